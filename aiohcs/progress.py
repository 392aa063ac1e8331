"""Operations with progress: a lifecycle call you can watch while it runs.

``system.tracked`` offers the lifecycle calls of a compute system (start, pause, resume,
save, shutdown, terminate, crash, modify) as :class:`TrackedOperation` objects: the
``HCS_OPERATION`` is made with ``HcsCreateOperationWithNotifications`` and
``HcsOperationOptionProgressUpdate``, and the progress events HCS sends while it runs come
out of :meth:`TrackedOperation.progress` as typed
:class:`~aiohcs.events.OperationProgress` events::

    async with system.tracked.save(path) as op:
        async for update in op.progress():
            print(f"{update.percent or 0:.0f}%")
    # leaving the block waited for the save (and raised its error, if any)

    await system.tracked.save(path)       # the same, without looking at the progress

Progress travels like every other callback of the bridge (ARCHITECTURE.md invariant 2):
HCS calls the bridge's C callback, which queues an item for the operation's id; the
completion comes through the same callback and is handled in C exactly as a plain
operation's (result fetched, operation closed there, once). Plain calls
(``await system.save(path)``) do not change: they never ask for progress and cost nothing
more.

The exports are newer than Windows 10 21H2: a host without ``HcsCreateOperationWithNotifications``
raises :class:`~aiohcs.errors.UnsupportedOnThisHost` when the call is asked for, before
anything reaches HCS.

Cancellation: leaving the ``async with`` block by an exception (a cancellation included)
abandons the wait, not the work, as for every HCS call (see :mod:`aiohcs.operation`):
the operation runs to its end and its completion is dropped. Cancelling :meth:`wait` or a
:meth:`progress` iteration inside the block only stops that wait.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Final

import anyio
import anyio.lowlevel

from aiohcs._bridge import (
    ITEM_COMPLETION,
    ITEM_EVENT,
    REGISTER_ONESHOT,
    REGISTER_PROGRESS,
    BridgeClosedError,
    Item,
    close_operation,
    current_bridge,
    run_sync,
)
from aiohcs._documents import document_text, parse_document
from aiohcs._lifecycle import LIFECYCLE_CALLS, options_text
from aiohcs._native import ffi, lib, new_document_ptr, require_export, take_document, to_wide
from aiohcs._operation._waiter import Waiter
from aiohcs.errors import error_from_hresult
from aiohcs.events import OperationProgress, decode_event
from aiohcs.operation import begin_operation

if TYPE_CHECKING:
    from aiohcs._bridge import LoopBridge
    from aiohcs._handle import HandleOwner

__all__ = ["OperationProgress", "ProgressStream", "TrackedCalls", "TrackedOperation"]

#: The export every tracked operation needs.
NOTIFICATIONS_EXPORT: Final = "HcsCreateOperationWithNotifications"
#: The export of :meth:`TrackedOperation.properties`.
PROPERTIES_EXPORT: Final = "HcsGetOperationProperties"
_FLAGS: Final = REGISTER_ONESHOT | REGISTER_PROGRESS


def _operation_properties(op: Any) -> str | None:
    """HcsGetOperationProperties(op, NULL): the document (blocking; a worker thread)."""
    out = new_document_ptr()
    hr: int = lib.HcsGetOperationProperties(op, ffi.NULL, out)
    document = take_document(out)
    if hr < 0:
        raise error_from_hresult(hr, document=document, operation="GetOperationProperties")
    return document


class ProgressWaiter(Waiter):
    """The waiter of an operation made with notifications: it also keeps its progress.

    Progress items (ITEM_EVENT for the operation's id) are decoded and kept, in order; the
    completion goes through the plain waiter's state machine. Every change wakes the tasks
    waiting in :meth:`changed`.
    """

    __slots__ = ("_changed", "_done_op", "abandoned", "op", "op_closed", "queries", "updates")

    def __init__(self, bridge: LoopBridge) -> None:
        super().__init__(bridge, None)
        #: The progress events received so far, in order.
        self.updates: list[OperationProgress] = []
        self.abandoned = False
        self._changed: anyio.Event | None = None
        #: The HCS_OPERATION (set when it is started), open until :attr:`op_closed`.
        self.op: Any = None
        self.op_closed = False
        #: HcsGetOperationProperties calls using :attr:`op` right now (worker threads).
        self.queries = 0
        # The operation handed over by the completion, closed once no query uses it.
        self._done_op = 0

    def _deliver(self, item: Item) -> None:
        if item.kind == ITEM_COMPLETION and item.handle:
            self._done_op = item.handle
            self.release_operation()
        if item.kind == ITEM_EVENT:
            event = decode_event(item.event_type, item.payload, timestamp_ns=item.timestamp_ns)
            # (Only progress is asked for; anything else an operation might send is not.)
            if isinstance(event, OperationProgress) and not self.finished():
                self.updates.append(event)
                self._signal()
            return
        super()._deliver(item)

    def _wake(self, value: Any = None) -> None:
        super()._wake(value)
        self._signal()

    def abandon(self) -> None:
        """Stop waiting (the work goes on); progress iterators end."""
        self.abandoned = True
        super().abandon()
        self._signal()

    def release_operation(self) -> None:
        """Close the completed operation unless a query still uses it (then the last does)."""
        if self._done_op and not self.queries:
            close_operation(self._done_op)  # (after a query still running, if any)
            self._done_op = 0
            self.op_closed = True

    def finished(self) -> bool:
        """True once the outcome is known or nobody waits for it any more."""
        return self.abandoned or not self.pending()

    def _signal(self) -> None:
        changed = self._changed
        if changed is not None:
            self._changed = None
            changed.set()

    async def changed(self) -> None:
        """Wait for the next change (a progress event, the outcome, the end)."""
        if self._changed is None:
            self._changed = anyio.Event()
        await self._changed.wait()


class ProgressStream:
    """An async iterator over the progress events of one operation, from its start.

    Each stream yields every progress event (also those that came before it was made), in
    order, and ends when the operation completes, fails or is abandoned. Its outcome is
    :meth:`TrackedOperation.wait`'s business: the stream itself never raises it.
    """

    __slots__ = ("_next", "_waiter")

    def __init__(self, waiter: ProgressWaiter) -> None:
        self._waiter = waiter
        self._next = 0

    def __aiter__(self) -> ProgressStream:
        return self

    async def __anext__(self) -> OperationProgress:
        waiter = self._waiter
        while True:
            if self._next < len(waiter.updates):
                await anyio.lowlevel.checkpoint()
                event = waiter.updates[self._next]
                self._next += 1
                return event
            if waiter.finished():
                await anyio.lowlevel.checkpoint()
                raise StopAsyncIteration
            await waiter.changed()


class TrackedOperation:
    """One HCS call made with progress notifications (see the module documentation).

    ``async with op:`` starts it and, when the block ends normally, waits for it (its
    typed error is raised then); ``await op`` does both at once. Inside the block,
    :meth:`progress` iterates over the progress events and :meth:`wait` returns the result
    document. Start it once.
    """

    __slots__ = ("_error", "_operation", "_owner", "_start", "_waiter")

    def __init__(self, owner: HandleOwner, operation: str, start: Callable[[Any], int]) -> None:
        """(Internal: made by :class:`TrackedCalls`.)"""
        self._owner = owner
        self._operation = operation
        self._start = start
        self._waiter: ProgressWaiter | None = None
        self._error: BaseException | None = None

    @property
    def operation(self) -> str:
        """The operation's name (``"Save"``, ``"Start"``, ...), as errors give it."""
        return self._operation

    @property
    def started(self) -> bool:
        """True once HCS accepted the call."""
        return self._waiter is not None

    @property
    def done(self) -> bool:
        """True once the outcome is known (or the wait was abandoned)."""
        return self._waiter is not None and self._waiter.finished()

    @property
    def latest(self) -> OperationProgress | None:
        """The last progress event received (None before the first)."""
        waiter = self._waiter
        return waiter.updates[-1] if waiter is not None and waiter.updates else None

    async def begin(self) -> None:
        """Start the call (once). Raises its typed error if HCS refuses it at once."""
        if self._waiter is not None or self._error is not None:
            raise RuntimeError(f"{self._operation} was already started")
        await anyio.lowlevel.checkpoint_if_cancelled()  # (cancelled before: nothing starts)
        ops = self._owner._ops
        waiter = ProgressWaiter(current_bridge())
        call = self._start

        def start(op: Any) -> int:
            waiter.op = op
            return call(op)

        try:
            await begin_operation(
                waiter,
                start,
                flags=_FLAGS,
                operation=self._operation,
                owner=ops,
                **self._owner._ids,
            )
        except BaseException as exc:
            self._error = exc
            raise
        self._waiter = waiter
        try:
            # (A cancellation that came while a worker thread made the start: started,
            # so the wait is abandoned.)
            await anyio.lowlevel.checkpoint_if_cancelled()
        except BaseException:
            self.abandon()
            raise

    def _started_waiter(self) -> ProgressWaiter:
        if self._waiter is None:
            raise RuntimeError(f"{self._operation} has not been started: use 'async with'")
        return self._waiter

    def progress(self) -> ProgressStream:
        """An async iterator over the progress events (every one, from the start)."""
        return ProgressStream(self._started_waiter())

    async def wait(self) -> str | None:
        """Wait for the completion; return the result document or raise the typed error.

        May be called again (and by several tasks): the same outcome each time.
        Cancelling it only stops this wait (leaving the ``async with`` block by the
        cancellation abandons the operation).
        """
        waiter = self._started_waiter()
        if waiter.finished():
            await anyio.lowlevel.checkpoint()
        while not waiter.finished():
            await waiter.changed()
        self._owner._ops._inflight.discard(waiter)
        if waiter.abandoned:
            raise RuntimeError(f"{self._operation} was abandoned")
        if waiter.error is not None:
            raise waiter.error
        item = waiter.item
        assert item is not None
        if item.result < 0:
            raise error_from_hresult(
                item.result, document=item.payload, operation=self._operation, **self._owner._ids
            )
        return item.payload

    async def properties(self) -> Any:
        """The operation's properties (HcsGetOperationProperties), parsed; None once it closed.

        A JSON object about the operation: its type (``Operation``), ``StartTimestamp``,
        ``EndTimestamp`` once completed, ``FailureInfo`` if it failed (what hcsim gives; no
        published schema release describes it beyond the name ``OperationInfo``). The
        operation stays open for as long as a query uses it (also when the event loop ends
        meanwhile: its close then waits for the query's end); once it has completed and been
        closed this returns None. The query runs in a worker thread (an RPC on Windows).
        """
        waiter = self._started_waiter()
        require_export(PROPERTIES_EXPORT)
        if waiter.op_closed:
            await anyio.lowlevel.checkpoint()
            return None
        # The query holds the operation in the bridge: if the loop ends meanwhile, the
        # undelivered completion's close waits for the query's end (in its thread).
        release = waiter.bridge.hold_operation(waiter.op)
        if release is None:  # (the loop's queue is gone: so may the operation be)
            await anyio.lowlevel.checkpoint()
            return None
        held = release
        ran = False

        def query(op: Any) -> str | None:
            nonlocal ran
            ran = True
            try:
                return _operation_properties(op)
            finally:
                held()  # (in the worker: also after the loop ended)

        waiter.queries += 1
        try:
            document = await run_sync(query, waiter.op)
        except BridgeClosedError:
            raise  # (the loop ends: the query, queued or running, lets go itself)
        except BaseException:
            if not ran:  # (no thread could take it)
                release()
            raise
        finally:
            waiter.queries -= 1
            waiter.release_operation()
        return parse_document(document)

    def abandon(self) -> None:
        """Stop waiting for the call (it runs to its end; its completion is dropped)."""
        waiter = self._waiter
        if waiter is not None and not waiter.finished():
            self._owner._ops._inflight.discard(waiter)
            waiter.abandon()

    async def __aenter__(self) -> TrackedOperation:
        await self.begin()
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            await self.wait()
        else:
            self.abandon()

    async def _run(self) -> str | None:
        async with self:
            return await self.wait()

    def __await__(self) -> Generator[Any, None, str | None]:
        if self._waiter is not None:
            return self.wait().__await__()
        return self._run().__await__()

    def __repr__(self) -> str:
        state = "done" if self.done else "running" if self.started else "not started"
        return f"<TrackedOperation {self._operation} ({state})>"


class TrackedCalls:
    """The lifecycle calls of one compute system as :class:`TrackedOperation` objects.

    Got from ``system.tracked``. Each method checks its arguments (and that the host has
    the export) at once and returns the operation, not started yet.
    """

    __slots__ = ("_system",)

    def __init__(self, system: HandleOwner) -> None:
        self._system = system

    def _make(
        self, operation: str, function: str, text: str | None, *extra: Any
    ) -> TrackedOperation:
        system = self._system
        system._require_handle()
        require_export(NOTIFICATIONS_EXPORT)
        w_text = to_wide(text)
        call = getattr(lib, function)

        def start(op: Any) -> int:
            hr: int = call(system._require_handle(), op, w_text, *extra)
            return hr

        return TrackedOperation(system, operation, start)

    def _lifecycle(self, operation: str, options: Any) -> TrackedOperation:
        self._system._require_handle()  # (a closed handle fails first, before any validation)
        text = options_text(operation, options)
        return self._make(operation, LIFECYCLE_CALLS[operation][0], text)

    def start(self, options: Any = None) -> TrackedOperation:
        """:meth:`ComputeSystem.start <aiohcs.system.ComputeSystem.start>`, tracked."""
        return self._lifecycle("Start", options)

    def pause(self, options: Any = None) -> TrackedOperation:
        """:meth:`ComputeSystem.pause <aiohcs.system.ComputeSystem.pause>`, tracked."""
        return self._lifecycle("Pause", options)

    def resume(self, options: Any = None) -> TrackedOperation:
        """:meth:`ComputeSystem.resume <aiohcs.system.ComputeSystem.resume>`, tracked."""
        return self._lifecycle("Resume", options)

    def save(self, path_or_options: Any) -> TrackedOperation:
        """:meth:`ComputeSystem.save <aiohcs.system.ComputeSystem.save>`, tracked."""
        return self._lifecycle("Save", path_or_options)

    def shutdown(self, options: Any = None) -> TrackedOperation:
        """:meth:`ComputeSystem.shutdown <aiohcs.system.ComputeSystem.shutdown>`, tracked."""
        return self._lifecycle("Shutdown", options)

    def terminate(self, options: Any = None) -> TrackedOperation:
        """:meth:`ComputeSystem.terminate <aiohcs.system.ComputeSystem.terminate>`, tracked."""
        return self._lifecycle("Terminate", options)

    def crash(self, options: Any = None) -> TrackedOperation:
        """:meth:`ComputeSystem.crash <aiohcs.system.ComputeSystem.crash>`, tracked."""
        return self._lifecycle("Crash", options)

    def modify(self, request: Any) -> TrackedOperation:
        """:meth:`ComputeSystem.modify <aiohcs.system.ComputeSystem.modify>`, tracked."""
        from aiohcs.errors import InvalidArgumentTypeError

        if request is None:
            raise InvalidArgumentTypeError("request must not be None")
        text = document_text(request, "ModifySettingRequest", argument="request")
        return self._make("Modify", "HcsModifyComputeSystem", text, ffi.NULL)
