"""Blocking calls off the loop thread: Python worker threads and the bridge's C threads.

Blocking HCS calls never run on the loop thread. The frequent ones (create, open and close
of compute systems, close of processes) are *native calls* (:func:`run_native`): the
bridge's own C threads make them and report through the loop's queue, without ever taking
the GIL, so the loop never waits for it because of them. The rest run in a pool of Python
worker threads (:func:`run_sync`), whose results come back the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar

import anyio.lowlevel

from aiohcs._bridge._admission import ADMIT_CALL
from aiohcs._bridge._core import LoopBridge
from aiohcs._bridge._handles import close_detached, close_in_worker, release_handle
from aiohcs._bridge._items import CALL_OPEN_SYSTEM, Item
from aiohcs._bridge._posted import posted_call, run_sync_on
from aiohcs._bridge._registry import current_bridge
from aiohcs._native import ffi, lib
from aiohcs.errors import BridgeClosedError, NoThreadError

__all__ = ["admit_close", "close_native", "run_native", "run_sync", "submit_native"]

_T = TypeVar("_T")

_NULL_TEXTS: Final = (ffi.NULL, ffi.NULL, ffi.NULL)


async def run_sync(
    fn: Callable[..., _T], *args: Any, discard: Callable[[_T], None] | None = None
) -> _T:
    """Run ``fn(*args)`` in a worker thread and return its result (or raise its error).

    For blocking HCS calls (close, open, ...): like ``anyio.to_thread.run_sync`` but the
    result comes back through the bridge's queue (no per-call future, limiter or
    ``call_soon_threadsafe``), which costs the loop far less. The call always runs to its
    end, whatever cancels the caller (anyio/trio scopes and native asyncio cancellation
    alike): it may hold an HCS handle. A cancellation that arrived meanwhile is raised once
    the call has returned; ``discard(result)`` then releases what the call produced (it
    runs in a worker thread and must not raise). Context variables are not copied into
    the thread.
    """
    return await run_sync_on(current_bridge(), fn, args, discard)


def submit_native(
    kind: int,
    post_id: int,
    *,
    operation: Any = ffi.NULL,
    handle: Any = ffi.NULL,
    texts: tuple[Any, Any, Any] = _NULL_TEXTS,
    callback_id: int = 0,
) -> None:
    """Queue a native call (see ``aiohcs_call_submit`` in bridge.cdef) reporting to ``post_id``.

    Raises :class:`~aiohcs.errors.NoThreadError` if no thread could take it (nothing
    happened then).
    """
    if not lib.aiohcs_call_submit(kind, post_id, operation, handle, *texts, callback_id):
        raise NoThreadError("aiohcs: cannot start a thread for a blocking HCS call")


async def run_native(
    kind: int,
    *,
    handle: Any = ffi.NULL,
    texts: tuple[Any, Any, Any] = _NULL_TEXTS,
    callback_id: int = 0,
) -> Item:
    """Make a blocking HCS call on one of the bridge's C threads; return its ITEM_CALL item.

    Those threads never run Python, so the loop never waits for the GIL because of them
    (Python worker threads would take it three times per call). Like :func:`run_sync` the
    call always runs to its end: a cancellation that arrived meanwhile is raised afterwards,
    once a system handle the call produced is closed. The item's ``result`` is the call's
    HRESULT (not raised here); ``handle`` belongs to the caller. An open waits for its
    turn (:meth:`LoopBridge.admit`; creates are admitted by their callers, closes by
    :func:`admit_close`).
    """
    bridge = current_bridge()
    if kind == CALL_OPEN_SYSTEM:
        await bridge.admit(ADMIT_CALL)
    waiter, cancelled = await posted_call(
        bridge,
        lambda waiter: submit_native(
            kind, waiter.id, handle=handle, texts=texts, callback_id=callback_id
        ),
    )
    item = waiter.item
    if cancelled is not None:
        if item is not None:
            release_handle(item)
        raise cancelled
    if waiter.error is not None:
        raise waiter.error  # (the loop shut down: the C side closed what it produced)
    assert item is not None
    return item


async def close_native(kind: int, handle: Any) -> None:
    """Close ``handle`` on a bridge thread and wait for it, also while the loop shuts down.

    On a loop whose bridge has shut down the close is made all the same, not waited for.
    """
    try:
        bridge = current_bridge()
    except BridgeClosedError:
        bridge = None
    if bridge is None or bridge.closed:
        close_detached(kind, handle)
        await anyio.lowlevel.checkpoint()
        return
    try:
        await run_native(kind, handle=handle)
    except BridgeClosedError:
        pass  # (the loop shut down meanwhile: the close was made all the same)
    except NoThreadError:
        close_in_worker(kind, handle)  # (never leave a handle open)


async def admit_close(bridge: LoopBridge) -> BaseException | None:
    """Admission of a close (see :meth:`LoopBridge.admit`), which nothing may stop.

    The teardown of many objects at once then begins a few closes per loop turn. A
    cancellation that arrives while this waits is returned, not raised: the caller makes
    the close at once and raises it afterwards.
    """
    try:
        await bridge.admit(ADMIT_CALL)
    except BaseException as exc:  # handed back, re-raised by the caller
        return exc
    return None
