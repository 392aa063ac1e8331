"""Awaitable HCS operations.

Every asynchronous HCS call goes through :func:`run_operation`: it registers an id with the
loop's bridge, creates an ``HCS_OPERATION`` whose completion callback is the bridge's C
function (context = the id), calls the HCS function, and awaits the completion item the
drain task hands back. The C callback fetches the result (and the process information for
CreateProcess/GetProcessInfo), copies the result document, frees it and closes the
operation, so every operation that started is closed exactly once.

Quick completions: where operations complete within microseconds and the loop has nothing
else to do, the starting task waits for the completion in C for a short window
(:mod:`aiohcs._operation._poll`, ``LoopBridge.poll``) and then yields one turn to the
loop, instead of the loop sleeping in its selector until the wake byte comes.

Cancellation and timeouts
-------------------------
HCS cannot cancel an operation (``HcsCancelOperation`` is ``E_NOTIMPL``), so cancelling an
``await`` (a cancel scope, ``anyio.fail_after``, ``move_on_after``) **abandons the wait, not
the work**: the call was already accepted by HCS and runs to completion. Its id stays
registered until the completion arrives; the C callback still closes the operation, and the
late completion is drained and dropped (pipe handles it carries are closed). Nothing leaks.

What this means for the state of a compute system after a cancelled call: the request may
or may not have taken effect, and may still take effect after the cancellation was
delivered. After a cancelled ``start()`` the system is either still ``Created`` or
``Running`` (or it failed to start); after ``pause()`` it is ``Running`` or ``Paused``; after
``save()`` the state file may or may not be complete; after ``shutdown()``/``terminate()``/
``crash()`` it may still exit (watch ``events()`` or ``await system.wait()``, which are fed
independently of any operation). Query ``await system.properties()`` to learn the state.
A call cancelled *before* it reached HCS (while waiting for a worker thread, for instance)
changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, NamedTuple

import anyio

from aiohcs._bridge import (
    ADMIT_CALL,
    REGISTER_ONESHOT,
    REGISTER_PROCESS_INFO,
    Item,
    LoopBridge,
    ProcessInfo,
    admit_close,
    current_bridge,
)
from aiohcs._documents import parse_document, to_document
from aiohcs._operation._poll import poll_completion
from aiohcs._operation._start import NativeStart, start_operation
from aiohcs._operation._waiter import Waiter as _Waiter
from aiohcs.errors import HandleClosedError, HcsError, error_from_hresult

__all__ = [
    "HandleClosedError",
    "NativeStart",
    "OperationOwner",
    "OperationResult",
    "OperationType",
    "begin_operation",
    "parse_document",
    "run_operation",
    "to_document",
]


#: HCS_OPERATION_TYPE names as aiohcs reports them in errors.
OperationType = str

# The registrations of run_operation's ids (one completion; with the process information).
_ONESHOT: Final = REGISTER_ONESHOT
_WITH_INFO: Final = REGISTER_ONESHOT | REGISTER_PROCESS_INFO


class OperationResult(NamedTuple):
    """The outcome of a successful operation."""

    #: The HRESULT (a success code).
    result: int
    #: The result document (JSON text), or None.
    document: str | None
    #: HCS_PROCESS_INFORMATION for CreateProcess / GetProcessInfo, else None. The std
    #: handles belong to the caller.
    process_info: ProcessInfo | None


class OperationOwner:
    """In-flight operations of one HCS handle, so that closing the handle resolves them.

    Also counts the HCS calls on the handle that are running in worker threads right now:
    the handle must not be closed while another thread is inside a call that uses it
    (HCS contract §3.4), so :meth:`wait_idle` lets the close wait for them.
    """

    __slots__ = ("_idle", "_inflight", "bridge", "busy", "closed", "make_closed_error")

    def __init__(self, bridge: LoopBridge, make_closed_error: Callable[[], HcsError]) -> None:
        self.bridge = bridge
        self.closed = False
        self.make_closed_error = make_closed_error
        self._inflight: set[_Waiter] = set()
        self.busy = 0
        self._idle: anyio.Event | None = None

    def _leave(self) -> None:
        self.busy -= 1
        if self.busy == 0 and self._idle is not None:
            self._idle.set()
            self._idle = None

    async def wait_idle(self) -> None:
        """Wait until no HCS call on the handle runs in a worker thread."""
        while self.busy:
            if self._idle is None:
                self._idle = anyio.Event()
            await self._idle.wait()

    def check_open(self) -> None:
        """Raise the owner's closed error if it is closed."""
        self.bridge.check_usable()
        if self.closed:
            raise self.make_closed_error()

    def close(self) -> None:
        """Refuse new operations and resolve in-flight ones with the closed error."""
        self.closed = True
        inflight, self._inflight = self._inflight, set()
        for waiter in inflight:
            waiter.fail(self.make_closed_error())

    def __len__(self) -> int:
        return len(self._inflight)


async def run_operation(
    start: Callable[[Any], int] | NativeStart,
    *,
    operation: OperationType,
    system_id: str | None = None,
    process_id: int | None = None,
    process_info: bool = False,
    owner: OperationOwner | None = None,
    in_thread: bool = False,
    on_abandoned: Callable[[Item], None] | None = None,
    cleanup: bool = False,
) -> OperationResult:
    """Run one asynchronous HCS call and return its result; raise its typed error.

    ``start(operation)`` calls the HCS function with the given ``HCS_OPERATION`` and returns
    its HRESULT. It runs on the loop thread (HCS only starts the work), or in a worker
    thread with ``in_thread=True`` or while the host is slow to accept calls (see
    :class:`~aiohcs._operation._start.StartCost`). ``start`` may also be a
    :class:`NativeStart`: the call is then made on one of the bridge's C threads (calls
    whose synchronous part may take long, such as create). A synchronous failure closes the
    operation at once and raises. The error carries ``operation``, ``system_id`` and
    ``process_id``.

    ``process_info=True`` fetches HCS_PROCESS_INFORMATION (CreateProcess, GetProcessInfo).
    ``on_abandoned(item)`` runs on the loop when the completion of a cancelled or abandoned
    call arrives (e.g. to close a handle the call produced); pipe handles in the item are
    closed afterwards in any case.

    Cancellation abandons the wait, not the work (see the module documentation).
    ``cleanup=True`` marks a call that must reach HCS once asked for (the terminate of a
    process or system being given up, the close of HCS's copy of stdin): a cancellation
    that arrives while it waits for its turn (:meth:`LoopBridge.admit`) is kept, the call
    is made, and the cancellation is raised once it has started (the wait is abandoned).
    Without it such a cancellation stops the call before HCS sees it. This matters for
    asyncio's own cancellation (``task.cancel()``, ``asyncio.timeout``), which reaches
    through anyio's shields.
    """
    bridge = current_bridge()
    if owner is not None:
        if owner.bridge is not bridge:
            raise RuntimeError("this HCS object belongs to another event loop")
        owner.check_open()
    cancelled: BaseException | None = None
    if not isinstance(start, NativeStart):  # (creates were admitted by their caller)
        # A burst of calls begins a few per loop turn.
        if cleanup:
            cancelled = await admit_close(bridge)
        elif not bridge.admission.admit_now(ADMIT_CALL):
            await bridge.admit(ADMIT_CALL)
        if owner is not None and (owner.closed or bridge.inherited):
            _check_admitted(owner, cancelled)  # (closed while it waited for its turn)
    waiter = _Waiter(bridge, on_abandoned)
    started = start_operation(
        waiter,
        start,
        flags=_WITH_INFO if process_info else _ONESHOT,
        owner=owner,
        in_thread=in_thread,
    )
    hr, document = started if isinstance(started, tuple) else await started
    polled = hr >= 0 and cancelled is None and poll_completion(bridge, waiter)
    if cancelled is not None:  # a clean-up call: made, and the cancellation goes on now
        if hr >= 0:
            waiter.abandon()
        raise cancelled
    if hr >= 0:
        item = await waiter.outcome(owner._inflight if owner is not None else None, polled)
        hr, document = item.result, item.payload
        if hr >= 0:
            return OperationResult(hr, document, item.process_info)
    raise error_from_hresult(
        hr, document=document, operation=operation, system_id=system_id, process_id=process_id
    )


async def begin_operation(
    waiter: _Waiter,
    start: Callable[[Any], int],
    *,
    flags: int,
    operation: OperationType,
    owner: OperationOwner,
    **ids: Any,
) -> None:
    """Admit and start one HCS call for ``waiter`` without waiting for its completion.

    The first half of :func:`run_operation`, for an operation whose completion (and
    progress, with :data:`~aiohcs._bridge.REGISTER_PROGRESS` in ``flags``) is awaited
    later through ``waiter``; it is listed with ``owner`` meanwhile, so that closing the
    handle resolves it. A synchronous failure raises the typed error (``operation`` and
    ``ids`` go into it).
    """
    bridge = waiter.bridge
    if owner.bridge is not bridge:
        raise RuntimeError("this HCS object belongs to another event loop")
    owner.check_open()
    if not bridge.admission.admit_now(ADMIT_CALL):
        await bridge.admit(ADMIT_CALL)
    owner.check_open()  # (closed while it waited for its turn)
    started = start_operation(waiter, start, flags=flags, owner=owner, in_thread=False)
    hr, document = started if isinstance(started, tuple) else await started
    if hr < 0:
        raise error_from_hresult(hr, document=document, operation=operation, **ids)
    owner._inflight.add(waiter)


def _check_admitted(owner: OperationOwner, cancelled: BaseException | None) -> None:
    """Raise the owner's closed error if it closed while the call waited for its turn.

    A clean-up call raises the cancellation it kept instead (see :func:`run_operation`).
    """
    try:
        owner.check_open()
    except HcsError as exc:
        if cancelled is not None:
            raise cancelled from exc
        raise
