"""The three ways of starting an operation, behind one switch (:func:`start_operation`).

* On the loop thread (in :func:`start_operation` itself): HCS only starts the work, which
  is normally quick.
* In a Python worker thread (:func:`begin_in_thread`): asked for, or while the host is
  slow to accept calls (the bridge's ``start_cost``, see
  :class:`~aiohcs._bridge._tuning.StartCost`).
* On one of the bridge's C threads (:func:`begin_native`): calls whose synchronous part
  may take long, such as create (see ``aiohcs._bridge.run_native``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Coroutine
from typing import Any, NamedTuple, Protocol

from aiohcs._bridge import (
    REGISTER_ONESHOT,
    REGISTER_POSTED,
    Item,
    submit_native,
)
from aiohcs._native import lib, new_document_ptr, take_document
from aiohcs._operation._waiter import Waiter
from aiohcs.errors import BridgeClosedError

__all__ = ["Busy", "NativeStart", "Started", "start_operation"]

#: A start: ``start(operation)`` calls the HCS function and returns its HRESULT.
StartFn = Callable[[Any], int]


class NativeStart(NamedTuple):
    """An operation started by a native call on a bridge thread (see ``run_native``).

    ``on_call(item)`` receives the call's ITEM_CALL item on the loop (the handle it
    produced, the callback registration's HRESULT) before anything else happens.
    """

    kind: int
    texts: tuple[Any, Any, Any]
    callback_id: int
    on_call: Callable[[Item], None]


class Busy(Protocol):
    """Counts the calls on a handle that run on other threads (see OperationOwner)."""

    busy: int

    def _leave(self) -> None:
        """One such call returned."""


#: A start's outcome: (HRESULT, failure document of a start that failed synchronously).
Started = tuple[int, str | None]


def start_operation(
    waiter: Waiter,
    start: StartFn | NativeStart,
    *,
    flags: int,
    owner: Busy | None,
    in_thread: bool,
) -> Started | Coroutine[Any, Any, Started]:
    """Start the operation of ``waiter`` the way ``start`` asks: the one switch.

    ``flags``: how the id is registered (:data:`REGISTER_ONESHOT`, with
    :data:`REGISTER_PROCESS_INFO` for CreateProcess/GetProcessInfo and
    :data:`REGISTER_PROGRESS` for an operation made with progress notifications).
    A start on the loop thread is made here and returns its outcome at once: register,
    create the operation and call ``start``. The others return a coroutine that waits for
    the thread making the call. (No coroutine and no further call for the common case:
    this runs for every operation.)
    """
    if isinstance(start, NativeStart):
        return begin_native(waiter, start, owner)
    bridge = waiter.bridge
    if in_thread or bridge.start_cost.use_thread():
        return begin_in_thread(waiter, start, flags, owner)
    waiter.id, op = bridge.register_operation(waiter, flags)
    t0 = time.perf_counter()
    try:
        hr: int = start(op)
    except BaseException:
        lib.HcsCloseOperation(op)
        bridge.unregister(waiter.id)
        raise
    waiter.started = time.perf_counter()
    bridge.start_cost.record(waiter.started - t0)
    if hr >= 0:
        return hr, None
    # Failed synchronously: no callback will come.
    document = failure_document(op)
    bridge.unregister(waiter.id)
    return hr, document


async def begin_in_thread(
    waiter: Waiter, start: StartFn, flags: int, owner: Busy | None
) -> tuple[int, str | None]:
    """Start on a (Python) worker thread: ``start`` is called there."""

    def submit(op: Any) -> None:
        drop = functools.partial(_close, op)
        waiter.bridge.submit_job(_start_job, waiter, start, op, on_drop=drop)

    return await _begin_elsewhere(waiter, submit, flags, owner)


async def begin_native(
    waiter: Waiter, native: NativeStart, owner: Busy | None
) -> tuple[int, str | None]:
    """Start by a native call on one of the bridge's C threads."""
    waiter.on_call = native.on_call

    def submit(op: Any) -> None:
        submit_native(
            native.kind,
            waiter.id,
            operation=op,
            texts=native.texts,
            callback_id=native.callback_id,
        )

    return await _begin_elsewhere(waiter, submit, REGISTER_ONESHOT, owner)


async def _begin_elsewhere(
    waiter: Waiter, submit: Callable[[Any], None], flags: int, owner: Busy | None
) -> tuple[int, str | None]:
    """Create the operation here; ``submit(op)`` has another thread make the call.

    Waiting for the thread is shielded: the call holds the handle, and what it started
    must be known (a cancellation is delivered when the operation is awaited).
    """
    bridge = waiter.bridge
    waiter.in_thread()
    # The operation is created here: the thread then only makes the call.
    waiter.id, op = bridge.register_operation(waiter, flags | REGISTER_POSTED)
    try:
        submit(op)
    except BaseException:
        lib.HcsCloseOperation(op)
        bridge.unregister(waiter.id)
        raise
    if owner is not None:
        owner.busy += 1
    try:
        # Never leave before the thread: it holds the handle (owner.busy), and what it
        # started must be known. A cancellation meanwhile is re-raised afterwards.
        cancelled = await waiter._sleep_until(lambda: not waiter.in_flight_elsewhere())
    finally:
        if owner is not None:
            owner._leave()
    begun = waiter.begun
    if begun is None:  # the loop shut down under the call
        bridge.unregister(waiter.id)
        raise waiter.error or BridgeClosedError("the event loop has shut down")
    if isinstance(begun, BaseException):
        bridge.unregister(waiter.id)
        raise begun
    if begun[0] < 0:
        bridge.unregister(waiter.id)
    elif cancelled is not None:
        waiter.abandon()  # the work goes on; its completion is dropped
    if cancelled is not None:
        raise cancelled
    return begun


def _close(op: Any) -> None:
    lib.HcsCloseOperation(op)


def _start_job(waiter: Waiter, start: StartFn, op: Any) -> None:
    """Worker thread: call ``start(op)``, report the outcome to the loop."""
    try:
        hr: int = start(op)
        waiter.begun = (hr, None if hr >= 0 else failure_document(op))
    except BaseException as exc:
        lib.HcsCloseOperation(op)
        waiter.begun = exc
    lib.aiohcs_post(waiter.id, 0)


def failure_document(op: Any) -> str | None:
    """Fetch the failure document of an operation that failed to start, and close it.

    The one fetch of a failure document, in C (``aiohcs_take_failure``), shared with the
    native starts on the bridge's C threads.
    """
    pp = new_document_ptr()
    lib.aiohcs_take_failure(op, pp)
    return take_document(pp)
