"""Loading pydantic and the schema models in a worker thread before the first call needs them."""

from __future__ import annotations

import logging
import sys
import threading
from typing import TYPE_CHECKING, Final

import anyio

from aiohcs._bridge._posted import run_sync_on

if TYPE_CHECKING:
    from aiohcs._bridge._hub import Hub

__all__ = ["reset_after_fork", "warm_up"]

_log: Final = logging.getLogger("aiohcs")

#: True once the schema models the API uses are loaded (see LoopBridge.admit).
_schema_ready = False
_WARM_UP_SWITCH_INTERVAL: Final = 0.0005
_warm_up_lock = threading.Lock()
_warm_up_saved: list[float] = []  # the switch interval to restore while a warm-up runs


def _warm_up_schema() -> None:
    """Worker thread: load pydantic and the common schema models (once per process).

    A failure (pydantic missing, out of file descriptors, ...) is not raised here: the
    models then load where they are first needed, and that call reports it.
    """
    global _schema_ready
    with _warm_up_lock:  # (one at a time: several loops may start at once)
        if _schema_ready:
            return
        # This thread holds the GIL for most of the ~0.1-0.2 s the imports take, and the
        # loop gets it back only every switch interval (5 ms by default): for that long,
        # a shorter interval keeps the loop's turns short.
        interval = sys.getswitchinterval()
        _warm_up_saved[:] = [interval]  # (a child forked meanwhile restores it)
        sys.setswitchinterval(min(interval, _WARM_UP_SWITCH_INTERVAL))
        try:
            from aiohcs._documents import warm_up as load_models

            load_models()
        except Exception:
            _log.debug("aiohcs: loading the schema models ahead of use failed", exc_info=True)
        finally:
            sys.setswitchinterval(interval)
            _warm_up_saved.clear()
        _schema_ready = True


async def warm_up(bridge: Hub) -> None:
    """Load the schema models in a worker thread (once per process; see LoopBridge.admit).

    Tasks of the same loop that come meanwhile wait for it. If that cannot be done (no
    thread can be started, say), the call goes on: the models then load where they are
    first needed, as without the warm-up.
    """
    loading = bridge.warming
    if loading is not None:  # another task of this loop loads them: wait for it
        await loading.wait()
        return
    bridge.warming = loading = anyio.Event()
    try:
        await run_sync_on(bridge, _warm_up_schema, ())
    except Exception:
        _log.debug("aiohcs: cannot load the schema models ahead of use", exc_info=True)
    finally:
        bridge.warming = None
        loading.set()


def reset_after_fork() -> None:
    """A forked child: the lock and the warm-up's thread did not come along."""
    global _warm_up_lock
    _warm_up_lock = threading.Lock()
    if _warm_up_saved:  # (forked during a warm-up, whose thread did not come along)
        sys.setswitchinterval(_warm_up_saved.pop())
