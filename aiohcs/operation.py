"""Awaitable HCS operations.

Every asynchronous HCS call goes through :func:`run_operation`: it registers an id with the
loop's bridge, creates an ``HCS_OPERATION`` whose completion callback is the bridge's C
function (context = the id), calls the HCS function, and awaits the completion item the
drain task hands back. The C callback fetches the result (and the process information for
CreateProcess/GetProcessInfo), copies the result document, frees it and closes the
operation, so every operation that started is closed exactly once.

Quick completions: where operations complete within microseconds and the loop has nothing
else to do, the starting task waits for the completion in C for a short window
(:class:`_CompletionTime`, ``LoopBridge.poll``) and then yields one turn to the loop, instead
of the loop sleeping in its selector until the wake byte comes.

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

import functools
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, NamedTuple

import anyio
import anyio.lowlevel

from aiohcs._bridge import (
    ADMIT_CALL,
    ITEM_CALL,
    REGISTER_ONESHOT,
    REGISTER_POSTED,
    REGISTER_PROCESS_INFO,
    BridgeClosedError,
    Item,
    LoopBridge,
    ProcessInfo,
    Sleeper,
    admit_close,
    close_process_handles,
    current_bridge,
    submit_native,
)
from aiohcs._native import lib, new_document_ptr, take_document
from aiohcs.errors import HcsError, HResult, InvalidArgumentTypeError, error_from_hresult

__all__ = [
    "HandleClosedError",
    "NativeStart",
    "OperationOwner",
    "OperationResult",
    "OperationType",
    "run_operation",
    "to_document",
]

#: HCS_OPERATION_TYPE names as aiohcs reports them in errors.
OperationType = str

_E_HANDLE: Final = int(HResult.E_HANDLE)


class HandleClosedError(HcsError):
    """The object (compute system, process) was closed: no further calls are accepted.

    Also raised in tasks whose operation was still in flight when the object was closed
    (the HCS work itself goes on; see :mod:`aiohcs.operation`). HRESULT ``E_HANDLE``.
    """

    def __init__(
        self,
        hresult: int = _E_HANDLE,
        message: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(hresult, message or "the handle has been closed", **kwargs)


class OperationResult(NamedTuple):
    """The outcome of a successful operation."""

    #: The HRESULT (a success code).
    result: int
    #: The result document (JSON text), or None.
    document: str | None
    #: HCS_PROCESS_INFORMATION for CreateProcess / GetProcessInfo, else None. The std
    #: handles belong to the caller.
    process_info: ProcessInfo | None


class NativeStart(NamedTuple):
    """An operation started by a native call on a bridge thread (see ``run_native``).

    ``on_call(item)`` receives the call's ITEM_CALL item on the loop (the handle it
    produced, the callback registration's HRESULT) before anything else happens.
    """

    kind: int
    texts: tuple[Any, Any, Any]
    callback_id: int
    on_call: Callable[[Item], None]


class _Waiter(Sleeper):
    """The target of one operation id and the task waiting for it.

    It receives the completion and, for a start made in a worker thread, that thread's
    outcome (an ITEM_CALL item).
    """

    __slots__ = (
        "abandoned",
        "begun",
        "called",
        "completed",
        "error",
        "id",
        "item",
        "on_abandoned",
        "on_call",
        "started",
    )

    def __init__(self, bridge: LoopBridge, on_abandoned: Callable[[Item], None] | None) -> None:
        super().__init__(bridge)
        self.item: Item | None = None
        self.error: BaseException | None = None
        self.abandoned = False
        self.on_abandoned = on_abandoned
        self.id = 0
        # A start made in a worker thread: its outcome, and whether the thread reported it
        # (the completion may arrive first). The id is registered ONESHOT (+ POSTED for a
        # start in a thread): the C side forgets it once everything came, and so does
        # Python then. Only a start that failed is unregistered explicitly.
        self.begun: tuple[int, str | None] | BaseException | None = None
        self.called = True
        self.completed = False
        # perf_counter() when a start on the loop thread returned (0.0 for a start in a
        # worker thread): how long completions take, see _CompletionTime.
        self.started = 0.0
        # A native start: receives its ITEM_CALL item (and begun is taken from it).
        self.on_call: Callable[[Item], None] | None = None

    def _deliver(self, item: Item) -> None:
        if item.kind == ITEM_CALL:
            if self.on_call is not None:
                self.begun = (item.result, item.payload)
                self.on_call(item)
            self.called = True
            if self.completed:
                self.bridge.forget(self.id)
            self._wake()
            return
        self.completed = True
        if self.called:
            self.bridge.forget(self.id)
        if self.started:
            _completion_time.record(time.perf_counter() - self.started)
        if self.abandoned:
            self._drop(item)
            return
        self.item = item
        self._wake()

    def _drop(self, item: Item) -> None:
        """Nobody takes this completion: release what it owns."""
        if self.on_abandoned is not None:
            try:
                self.on_abandoned(item)
            finally:
                close_process_handles(item.process_info)
        else:
            close_process_handles(item.process_info)

    def abandon(self) -> None:
        """Stop waiting: a completion that already arrived is dropped now, a later one later."""
        self.abandoned = True
        late, self.item = self.item, None
        if late is not None:
            self._drop(late)

    def _bridge_closed(self) -> None:
        if self.item is None and self.error is None:
            self.error = BridgeClosedError(
                "the event loop shut down while an HCS operation was in flight"
            )
        self._wake()

    def fail(self, error: BaseException) -> None:
        """Resolve the waiter with ``error``; the late completion will be dropped."""
        if self.item is None and self.error is None:
            self.error = error
            self.abandoned = True
            self._wake()

    def begin(self, start: Callable[[Any], int], process_info: bool) -> tuple[int, str | None]:
        """Register, create the operation and call ``start`` on the loop thread."""
        bridge = self.bridge
        flags = REGISTER_ONESHOT | REGISTER_PROCESS_INFO if process_info else REGISTER_ONESHOT
        self.id, op = bridge.register_operation(self, flags)
        t0 = time.perf_counter()
        try:
            hr: int = start(op)
        except BaseException:
            lib.HcsCloseOperation(op)
            bridge.unregister(self.id)
            raise
        self.started = time.perf_counter()
        _start_cost.record(self.started - t0)
        if hr >= 0:
            return hr, None
        # Failed synchronously: no callback will come.
        document = _failure_document(op)
        bridge.unregister(self.id)
        return hr, document

    async def begin_in_thread(
        self, start: Callable[[Any], int], process_info: bool, owner: OperationOwner | None
    ) -> tuple[int, str | None]:
        """Like :meth:`begin`, with ``start`` called in a (Python) worker thread."""

        def submit(op: Any) -> None:
            drop = functools.partial(_close, op)
            self.bridge.submit_job(_start_job, self, start, op, on_drop=drop)

        return await self._begin_elsewhere(submit, process_info, owner)

    async def begin_native(
        self, native: NativeStart, owner: OperationOwner | None
    ) -> tuple[int, str | None]:
        """Like :meth:`begin`, with the call made by a native call on a bridge thread."""
        self.on_call = native.on_call

        def submit(op: Any) -> None:
            submit_native(
                native.kind,
                self.id,
                operation=op,
                texts=native.texts,
                callback_id=native.callback_id,
            )

        return await self._begin_elsewhere(submit, False, owner)

    async def _begin_elsewhere(
        self, submit: Callable[[Any], None], process_info: bool, owner: OperationOwner | None
    ) -> tuple[int, str | None]:
        """Create the operation here; ``submit(op)`` has another thread make the call.

        Waiting for the thread is shielded: the call holds the handle, and what it started
        must be known (a cancellation is delivered when the operation is awaited).
        """
        bridge = self.bridge
        self.called = False
        # The operation is created here: the thread then only makes the call.
        flags = REGISTER_ONESHOT | REGISTER_POSTED
        if process_info:
            flags |= REGISTER_PROCESS_INFO
        self.id, op = bridge.register_operation(self, flags)
        try:
            submit(op)
        except BaseException:
            lib.HcsCloseOperation(op)
            bridge.unregister(self.id)
            raise
        if owner is not None:
            owner.busy += 1
        try:
            # Never leave before the thread: it holds the handle (owner.busy), and what it
            # started must be known. A cancellation meanwhile is re-raised afterwards.
            cancelled = await self._sleep_until(lambda: not self._in_thread())
        finally:
            if owner is not None:
                owner._leave()
        begun = self.begun
        if begun is None:  # the loop shut down under the call
            bridge.unregister(self.id)
            raise self.error or BridgeClosedError("the event loop has shut down")
        if isinstance(begun, BaseException):
            bridge.unregister(self.id)
            raise begun
        if begun[0] < 0:
            bridge.unregister(self.id)
        elif cancelled is not None:
            self.abandon()  # the work goes on; its completion is dropped
        if cancelled is not None:
            raise cancelled
        return begun

    def pending(self) -> bool:
        """True while neither the completion nor an error has arrived."""
        return self.item is None and self.error is None

    def _in_thread(self) -> bool:
        return not self.called and not self.bridge.closed


def _close(op: Any) -> None:
    lib.HcsCloseOperation(op)


def _start_job(waiter: _Waiter, start: Callable[[Any], int], op: Any) -> None:
    """Worker thread: call ``start(op)``, report the outcome to the loop."""
    try:
        hr: int = start(op)
        waiter.begun = (hr, None if hr >= 0 else _failure_document(op))
    except BaseException as exc:
        lib.HcsCloseOperation(op)
        waiter.begun = exc
    lib.aiohcs_post(waiter.id, 0)


class OperationOwner:
    """In-flight operations of one HCS handle, so that closing the handle resolves them.

    Also counts the HCS calls on the handle that are running in worker threads right now:
    the handle must not be closed while another thread is inside a call that uses it
    (semantics.md §3.4), so :meth:`wait_idle` lets the close wait for them.
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
    :class:`_StartCost`). ``start`` may also be a :class:`NativeStart`: the call is then
    made on one of the bridge's C threads (calls whose synchronous part may take long, such
    as create). A synchronous failure closes the operation at once and raises. The error
    carries ``operation``, ``system_id`` and ``process_id``.

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
        else:
            await bridge.admit(ADMIT_CALL)
        if owner is not None:
            try:
                owner.check_open()  # (closed while it waited for its turn?)
            except HcsError as exc:
                if cancelled is not None:
                    raise cancelled from exc
                raise
    waiter = _Waiter(bridge, on_abandoned)
    polled = False
    if isinstance(start, NativeStart):
        hr, document = await waiter.begin_native(start, owner)
    elif in_thread or _start_cost.use_thread():
        hr, document = await waiter.begin_in_thread(start, process_info, owner)
    else:
        hr, document = waiter.begin(start, process_info)
        if hr >= 0 and waiter.pending() and cancelled is None:
            window = _completion_time.poll_window()
            if window and bridge.idle(window):
                polled = bridge.poll(window) > 0
    if cancelled is not None:  # a clean-up call: made, and the cancellation goes on now
        if hr >= 0:
            waiter.abandon()
        raise cancelled
    if hr < 0:
        raise error_from_hresult(
            hr,
            operation=operation,
            system_id=system_id,
            process_id=process_id,
            document=document,
        )
    if waiter.pending():
        if owner is not None:
            owner._inflight.add(waiter)
        try:
            while waiter.pending():
                await waiter._sleep()
        except BaseException:
            waiter.abandon()
            raise
        finally:
            if owner is not None:
                owner._inflight.discard(waiter)
    elif polled:
        # The completion came without a turn of the loop: the loop still gets its turn
        # (I/O, other tasks), and the call is a cancellation point as usual.
        try:
            await anyio.lowlevel.checkpoint()
        except BaseException:
            waiter.abandon()
            raise
    if waiter.error is not None:
        raise waiter.error
    item = waiter.item
    assert item is not None
    if item.result < 0:
        raise error_from_hresult(
            item.result,
            operation=operation,
            system_id=system_id,
            process_id=process_id,
            document=item.payload,
        )
    return OperationResult(item.result, item.payload, item.process_info)


class _StartCost:
    """How long the synchronous part of starting an operation takes on this host.

    Starting an operation is normally quick (on Windows an RPC that only queues the work),
    so it runs on the loop thread. If the host gets slow (a loaded compute service, or hcsim
    with a synchronous delay), the calls move to worker threads so the loop keeps
    responding. The cost is an exponentially weighted moving average of calls made on the
    loop thread only (a call in a worker thread also measures its wait for the GIL, which
    would keep the average high for ever); while calls go to threads, one in
    :attr:`PROBE_EVERY` still runs on the loop to notice when the host is fast again.
    """

    __slots__ = ("average", "skipped")

    #: Above this average (seconds), starting calls run in worker threads.
    THRESHOLD: Final = 0.0008
    PROBE_EVERY: Final = 8

    def __init__(self) -> None:
        self.average = 0.0
        self.skipped = 0

    def record(self, seconds: float) -> None:
        self.average += (seconds - self.average) * 0.2

    def use_thread(self) -> bool:
        """True if the next starting call should run in a worker thread."""
        if self.average <= self.THRESHOLD:
            return False
        self.skipped += 1
        if self.skipped >= self.PROBE_EVERY:
            self.skipped = 0
            return False
        return True


_start_cost: Final = _StartCost()


class _CompletionTime:
    """How long operations started on the loop thread take to complete on this host.

    When they complete within microseconds (hcsim, a host that answers from memory) and
    the loop has nothing else to do, a task that starts one waits for the completion in C
    for a short window (:meth:`LoopBridge.poll`) instead of the loop sleeping in its
    selector until the wake byte comes; it then yields one turn to the loop. The same
    result sooner, at the price of the loop noticing I/O up to that window later. Where
    operations take milliseconds (Windows: every call is an RPC) the window stays closed.
    The time is an exponentially weighted moving average from the start's return to the
    completion's dispatch, so a busy loop (which dispatches late) closes the window too.
    """

    __slots__ = ("average", "enabled")

    #: Poll only while the average is at most this (seconds).
    THRESHOLD: Final = 0.0005
    #: The window: this many times the average, within [MIN_WINDOW, MAX_WINDOW].
    FACTOR: Final = 2.0
    MIN_WINDOW: Final = 0.0001
    MAX_WINDOW: Final = 0.001

    def __init__(self) -> None:
        self.average = 1.0  # no polling until completions have been seen
        #: False turns polling off (benchmarks compare both paths).
        self.enabled = True

    def record(self, seconds: float) -> None:
        self.average += (seconds - self.average) * 0.2

    def poll_window(self) -> float:
        """Seconds to poll for the next completion, or 0.0 not to poll."""
        average = self.average
        if average > self.THRESHOLD or not self.enabled:
            return 0.0
        return min(self.MAX_WINDOW, max(self.MIN_WINDOW, average * self.FACTOR))


_completion_time: Final = _CompletionTime()


def _failure_document(op: Any) -> str | None:
    """Fetch the failure document of an operation that failed to start, and close it."""
    pp = new_document_ptr()
    lib.HcsGetOperationResult(op, pp)
    document = take_document(pp)
    lib.HcsCloseOperation(op)
    return document


def to_document(value: Any) -> str | None:
    """Return an HCS JSON document from a model, a mapping/sequence, JSON text or None."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8")
    dump = getattr(value, "model_dump_json", None)
    if dump is not None:
        text: str = dump(by_alias=True, exclude_none=True)
        return text
    if isinstance(value, (Mapping, Sequence)):
        return json.dumps(value, separators=(",", ":"), default=_json_default)
    raise InvalidArgumentTypeError(f"cannot make an HCS document from {type(value).__name__}")


def _json_default(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        return dump(by_alias=True, exclude_none=True, mode="json")
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def parse_document(document: str | None) -> Any:
    """Parse a returned JSON document (None stays None)."""
    if document is None or not document.strip():
        return None
    return json.loads(document)
