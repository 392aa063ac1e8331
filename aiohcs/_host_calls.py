"""Synchronous HCS calls off the loop: their admission and their one blocking call.

The service calls (:mod:`aiohcs.service`) and the host-resource calls (:mod:`aiohcs.access`,
:mod:`aiohcs.storage`, :mod:`aiohcs.vhd`) are synchronous in Windows. Each waits for its
turn (:func:`admit`), then makes its call in a worker thread (:func:`call`), which runs to
its end whatever cancels the caller; a failed HRESULT raises its typed error, and a
cancellation that arrived meanwhile is raised once the call has returned.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

import anyio.lowlevel

from aiohcs._bridge import ADMIT_CALL, current_bridge, run_sync
from aiohcs._documents import load_models, unloaded_models
from aiohcs.errors import HcsError, error_from_hresult

__all__ = ["admit", "call"]

_log: Final = logging.getLogger("aiohcs")


async def admit(types: tuple[str, ...] = ()) -> None:
    """Wait for this call's turn, with pydantic and the models of ``types`` loaded.

    The first call of a process loads pydantic and the common models in a worker thread
    (see the bridge's admission); the call's own types load the same way, once, so
    that no import stalls the event loop. A failure there (out of descriptors, ...) is not
    raised: the models then load where they are first needed, and that call reports it.
    """
    await current_bridge().admit(ADMIT_CALL)
    missing = unloaded_models(types)
    if missing:
        try:
            await run_sync(load_models, missing)
        except Exception:
            _log.debug("aiohcs: loading %s ahead of use failed", missing, exc_info=True)


async def call(
    operation: str,
    fn: Callable[[], tuple[int, str | None]],
    *,
    failure: Callable[[int], HcsError] | None = None,
) -> str | None:
    """Run ``fn`` (an HCS call: its HRESULT and out document) in a worker thread.

    Returns the document. A negative HRESULT raises ``failure(hr)``, by default the typed
    error of :func:`~aiohcs.errors.error_from_hresult` for ``operation`` (its ResultError
    document, if any, parsed). A cancellation that arrived meanwhile is raised once the
    call has returned (the document was freed by then).
    """
    hr, document = await run_sync(fn)  # runs to its end, shielded
    if hr < 0:
        if failure is not None:
            raise failure(hr)
        raise error_from_hresult(hr, operation=operation, document=document)
    await anyio.lowlevel.checkpoint_if_cancelled()
    return document
