"""The loop side of the callback bridge.

HCS calls the C callbacks of ``aiohcs/_native/callbacks.c`` on threads it owns. They never run
Python: each pushes one item (id, kind, HRESULT, UTF-16 payload, process info) onto the C
queue of the event loop that registered the id, and writes one byte to that loop's wake
socket when the queue goes from empty to non-empty.

Per event loop (asyncio loop or trio run) there is one :class:`LoopBridge`: the C queue, a
socketpair and one drain task, which lives outside every user cancel scope. It drains the
C queue in batches through an ordinary ``lib`` call and hands each item to the
:class:`Target` registered under its id. One module per step:

* :mod:`._items`: what the queue carries (:class:`Item`, kinds, flags, the handle values).
* :mod:`._queue`: the C queue and wake socket of one loop, and the decoding of items.
* :mod:`._core`: :class:`LoopBridge`: registration of ids, drain and dispatch, shutdown.
* :mod:`._backends`: what differs between asyncio and trio (scheduling, parking a task,
  the drain task, idleness), chosen once per bridge.
* :mod:`._sleeper`: :class:`Sleeper`, a task parked until the loop wakes it with a value.
* :mod:`._admission`: how many calls may begin per turn of the loop (4 creates of systems
  or processes, or 16 other operations, opens or closes).
* :mod:`._warmup`: the first call of the process has a worker thread load pydantic and the
  schema models before it goes on.
* :mod:`._workers`, :mod:`._posted`, :mod:`._calls`: blocking calls off the loop thread,
  in Python worker threads (:func:`run_sync`) or on the bridge's own C threads
  (:func:`run_native`), reporting through the same queue.
* :mod:`._handles`: closing what nobody takes; :mod:`._resources`: typed
  out-of-resource errors; :mod:`._registry`: the bridge of the running loop;
  :mod:`._fork`: a child process after ``os.fork()`` starts afresh.

Shutdown: when the loop ends, the drain task is cancelled; it then frees the C queue (which
unregisters every id of the loop, so late callbacks are dropped in C and their operations are
still closed there) and tells every remaining target that the bridge is gone, so no waiter
hangs. If the loop disappears without cancelling the task, a finalizer on the loop object
frees the queue instead.
"""

from __future__ import annotations

from aiohcs._bridge._admission import ADMIT_CALL, ADMIT_CREATE
from aiohcs._bridge._backends import LoopBackend, current_backend
from aiohcs._bridge._calls import admit_close, close_native, run_native, run_sync, submit_native
from aiohcs._bridge._core import LoopBridge
from aiohcs._bridge._fork import after_fork_in_child
from aiohcs._bridge._handles import close_detached, close_process_handles, release_handle
from aiohcs._bridge._holds import close_operation
from aiohcs._bridge._items import (
    CALL_CLOSE_PROCESS,
    CALL_CLOSE_SYSTEM,
    CALL_CREATE_SYSTEM,
    CALL_CREATE_SYSTEM_PLAIN,
    CALL_OPEN_SYSTEM,
    ITEM_CALL,
    ITEM_COMPLETION,
    ITEM_EVENT,
    REGISTER_ONESHOT,
    REGISTER_POSTED,
    REGISTER_PROCESS_INFO,
    REGISTER_PROGRESS,
    Item,
    ProcessInfo,
    Target,
    is_invalid_handle,
    now_ns,
)
from aiohcs._bridge._registry import current_bridge
from aiohcs._bridge._resources import resource_error, typed_resource_errors
from aiohcs._bridge._sleeper import Sleeper
from aiohcs._bridge._workers import WorkerPool, run_detached, workers
from aiohcs.errors import BridgeClosedError, NoThreadError

__all__ = [
    "ADMIT_CALL",
    "ADMIT_CREATE",
    "CALL_CLOSE_PROCESS",
    "CALL_CLOSE_SYSTEM",
    "CALL_CREATE_SYSTEM",
    "CALL_CREATE_SYSTEM_PLAIN",
    "CALL_OPEN_SYSTEM",
    "ITEM_CALL",
    "ITEM_COMPLETION",
    "ITEM_EVENT",
    "REGISTER_ONESHOT",
    "REGISTER_POSTED",
    "REGISTER_PROCESS_INFO",
    "REGISTER_PROGRESS",
    "BridgeClosedError",
    "Item",
    "LoopBackend",
    "LoopBridge",
    "NoThreadError",
    "ProcessInfo",
    "Sleeper",
    "Target",
    "WorkerPool",
    "admit_close",
    "after_fork_in_child",
    "close_detached",
    "close_native",
    "close_operation",
    "close_process_handles",
    "current_backend",
    "current_bridge",
    "is_invalid_handle",
    "now_ns",
    "release_handle",
    "resource_error",
    "run_detached",
    "run_native",
    "run_sync",
    "submit_native",
    "typed_resource_errors",
    "workers",
]
