"""The bridge of one event loop: id registration, the drain of its C queue, its shutdown."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Coroutine
from typing import Any, Final

import anyio

from aiohcs._bridge._admission import ADMIT_CREATE, Admission
from aiohcs._bridge._backends import LoopBackend, current_backend
from aiohcs._bridge._handles import close_process_handles, release_handle
from aiohcs._bridge._holds import hold_operation
from aiohcs._bridge._items import REGISTER_PROGRESS, Item, Target
from aiohcs._bridge._queue import NativeQueue, decode_items, handle_int
from aiohcs._bridge._resources import typed_resource_errors
from aiohcs._bridge._tuning import CompletionTime, StartCost
from aiohcs._bridge._workers import Job, drop_jobs, fail_job, workers
from aiohcs._native import ffi, lib
from aiohcs.errors import BridgeClosedError, UsedAfterForkError

__all__ = ["FORK_MESSAGE", "LoopBridge"]

_log: Final = logging.getLogger("aiohcs")

# Items dispatched per turn of the loop. Each item usually makes one task runnable, and the
# loop runs every task made runnable in one turn before it looks at timers and I/O again:
# a small budget keeps a burst of completions from stalling the loop (its lag is about
# budget x the cost of one woken task's step), at the price of one more loop turn per
# _BUDGET items. Measured with bursts of 100 creates (each woken step ~60-100 us): 8 gave a
# loop lag p99 of ~5 ms against ~8 ms with 16, at the same throughput.
_BUDGET: Final = 8
_BATCH: Final = _BUDGET

# HcsOperationOptionProgressUpdate (computedefs.h of the newer SDKs; spelled out so that
# this module does not need the newer declarations).
OPERATION_OPTION_PROGRESS_UPDATE: Final = 1

FORK_MESSAGE: Final = (
    "this aiohcs object (or event loop) comes from the parent process of an os.fork(): "
    "it cannot be used in the child. Start a new event loop in the child and create or "
    "open what it needs there (see the guide page 'Processes and fork')"
)


class LoopBridge:
    """The C queue, wake socket, drain task and id → target table of one event loop."""

    def __init__(self, backend: LoopBackend | None = None) -> None:
        #: What differs between asyncio and trio (chosen once, for the running loop).
        self.backend: LoopBackend = backend if backend is not None else current_backend()
        self._native = NativeQueue()
        self._queue = self._native.queue
        self._rfd = self._native.rsock.fileno()
        try:
            with typed_resource_errors():
                self._items = ffi.new("aiohcs_item[]", _BATCH)
                self._new_id = ffi.new("uint64_t *")
        except BaseException:
            self._native.free()
            raise
        self._targets: dict[int, Target] = {}
        # Jobs for the worker threads, handed over together once this turn of the loop
        # is done (see submit_job).
        self._jobs: list[Job] = []
        #: Admission of costly calls (see admit).
        self.admission = Admission(self)
        #: How long starts and completions of operations take on this loop (see _tuning).
        self.start_cost = StartCost()
        self.completion_time = CompletionTime()
        #: Set while a task of this loop has the schema models loaded (see _warmup).
        self.warming: anyio.Event | None = None
        self.closed = False
        #: True in a child process forked while this bridge existed (see _fork).
        self.inherited = False
        self._task: Any = None
        #: Items received and dispatched so far (diagnostics, benchmarks).
        self.dispatched = 0
        #: Of those, the items taken by :meth:`poll`.
        self.polled = 0
        #: True after a drain that stopped at its budget (the queue may hold more).
        self.more = False

    @property
    def rsock(self) -> socket.socket:
        """The read end of the wake socket."""
        return self._native.rsock

    def closed_error(self) -> RuntimeError:
        """The error for a use of this bridge once it is closed (or inherited across fork)."""
        if self.inherited:
            return UsedAfterForkError(FORK_MESSAGE)
        return BridgeClosedError("the event loop of this object has shut down")

    def check_usable(self) -> None:
        """Raise :class:`UsedAfterForkError` if this bridge was inherited across fork."""
        if self.inherited:
            raise UsedAfterForkError(FORK_MESSAGE)

    # ---------------------------------------------------------------- registration

    def register(self, target: Target, flags: int = 0) -> int:
        """Register ``target`` and return the new id (the context to hand to HCS)."""
        if self.closed:
            raise self.closed_error()
        ident: int = lib.aiohcs_register(self._queue, flags)
        if ident == 0:
            raise MemoryError("aiohcs: cannot register a callback context")
        self._targets[ident] = target
        return ident

    def register_operation(self, target: Target, flags: int = 0) -> tuple[int, Any]:
        """Register ``target`` and create its ``HCS_OPERATION`` in one C call: (id, operation).

        With :data:`REGISTER_ONESHOT` in ``flags`` the C side forgets the id when the
        completion is queued (with :data:`REGISTER_POSTED` too: once the completion and
        the :c:func:`aiohcs_post` item are); the target then calls :meth:`forget`
        instead of :meth:`unregister`.
        """
        if self.closed:
            raise self.closed_error()
        if flags & REGISTER_PROGRESS:
            return self._register_notified(target, flags)
        out = self._new_id
        op = lib.aiohcs_register_operation(self._queue, flags, out)
        if op == ffi.NULL:
            raise MemoryError("aiohcs: cannot create an HCS operation")
        ident: int = out[0]
        self._targets[ident] = target
        return ident, op

    def _register_notified(self, target: Target, flags: int) -> tuple[int, Any]:
        """:meth:`register_operation` for an operation with progress (REGISTER_PROGRESS).

        Made here, not in the bridge's C (which never names the newer export):
        ``HcsCreateOperationWithNotifications(HcsOperationOptionProgressUpdate)`` with the
        bridge's ``aiohcs_operation_event_callback``. The caller checked the host has it.
        """
        ident: int = lib.aiohcs_register(self._queue, flags)
        if ident == 0:
            raise MemoryError("aiohcs: cannot register a callback context")
        op = lib.HcsCreateOperationWithNotifications(
            OPERATION_OPTION_PROGRESS_UPDATE,
            ffi.cast("void *", ident),
            lib.aiohcs_operation_event_callback,
        )
        if op == ffi.NULL:
            lib.aiohcs_unregister(ident)
            raise MemoryError("aiohcs: cannot create an HCS operation with notifications")
        self._targets[ident] = target
        return ident, op

    def hold_operation(self, op: Any) -> Callable[[], None] | None:
        """Hold ``op`` for a blocking query (see _holds.py): the function that lets it go.

        None if the loop's queue is already freed. Closes of ``op`` (and the release of
        this loop's undelivered items) wait until it is let go.
        """
        return hold_operation(self._native, handle_int(op))

    def unregister(self, ident: int) -> None:
        """Forget ``ident`` (C and Python side); later callbacks for it are dropped in C.

        Safe from any thread (used by finalizers).
        """
        lib.aiohcs_unregister(ident)
        self._targets.pop(ident, None)

    def forget(self, ident: int) -> None:
        """Forget ``ident`` on the Python side only (a one-shot id the C side dropped)."""
        self._targets.pop(ident, None)

    def call_soon_threadsafe(self, fn: Callable[[], object]) -> None:
        """Have the loop's thread run ``fn()`` soon; from any thread, never blocking.

        For finalizers, which run on whatever thread collects: waking a task is only safe
        on its loop's thread (trio refuses it elsewhere). Dropped once the loop has ended.
        """
        self.backend.call_soon_threadsafe(fn)

    # ---------------------------------------------------------------- worker threads

    def submit_job(
        self, fn: Callable[..., None], *args: Any, on_drop: Callable[[], None] | None = None
    ) -> None:
        """Have a worker thread run ``fn(*args)`` soon (it reports through the queue).

        The jobs of one turn of the loop are handed to the threads together at the start
        of the next turn. Threads woken in the middle of a busy turn would each compete
        with the loop for the GIL at every C call it makes (measured: that doubled the
        length of the turn that starts 100 creates); handed over together, they mostly
        run while the loop waits for I/O. Jobs still waiting when the loop shuts down are
        dropped: ``on_drop()`` then runs on the loop instead (their targets are told the
        bridge closed).

        A job is ``fn(target, call, *rest)``, where ``fn`` makes the call ``call(...)`` and
        reports its outcome, error included, to ``target`` through the queue. If no worker
        thread can be started for it (threading's ``RuntimeError`` with none running),
        ``fn`` runs at once on the loop with a ``call`` that raises
        :class:`~aiohcs.errors.ResourceExhausted`: the caller gets that error, never a
        wait for ever.
        """
        if self.closed:
            raise self.closed_error()
        jobs = self._jobs
        jobs.append((fn, args, on_drop))
        if len(jobs) == 1:
            self.backend.call_soon(self._flush_jobs)

    def _flush_jobs(self) -> None:
        jobs, self._jobs = self._jobs, []
        if self.closed:
            drop_jobs(jobs)
            return
        for fn, args, _ in jobs:
            try:
                workers.submit(fn, *args)
            except Exception as exc:  # (never raise here: trio would crash the run)
                fail_job(fn, args, exc)

    # ---------------------------------------------------------------- admission

    def admit(self, cost: int = ADMIT_CREATE) -> Coroutine[Any, Any, None]:
        """Wait, if need be, for this turn of the loop to have room for one more call.

        See :meth:`Admission.admit <aiohcs._bridge._admission.Admission.admit>`.
        """
        return self.admission.admit(cost)

    # ---------------------------------------------------------------- draining

    def drain(self, budget: int = _BUDGET) -> int:
        """Drain the C queue and dispatch the items; return how many were dispatched.

        Takes at most ``budget`` items, so that a flood of callbacks cannot starve the loop;
        :attr:`more` then says whether the queue may still hold items (no new wake byte
        comes for them: the caller must drain again soon).
        """
        if self.closed:
            return 0
        total = 0
        self.more = False
        # The first call also consumes the wake bytes, before it takes items (a byte
        # written after that announces items this drain may already take; the next
        # wake-up then finds the queue empty).
        want = min(budget, _BATCH)
        n = lib.aiohcs_queue_drain_wake(self._queue, self._rfd, self._items, want)
        while n:
            self._dispatch_batch(n)
            total += n
            if n < want or self.closed:
                break
            if total >= budget:
                self.more = True
                break
            want = min(budget - total, _BATCH)
            n = lib.aiohcs_queue_drain(self._queue, self._items, want)
        self.dispatched += total
        return total

    def idle(self, seconds: float) -> bool:
        """True if nothing else on this loop is due within ``seconds``.

        That is: no runnable task or callback, no timer. I/O readiness is not known here.
        The refill of the admission budget (see :meth:`admit`) does not count while no
        call waits for it.
        """
        admission = self.admission
        refill = admission.refill_handle if admission.refill_scheduled else None
        return self.backend.idle(seconds, None if admission.waiting else refill)

    def poll(self, seconds: float) -> int:
        """Wait up to ``seconds`` on this thread for the next items and dispatch them.

        For a task that expects its operation's completion within microseconds while the
        loop has nothing else to do (check :meth:`idle` first): the loop thread waits in C
        (the GIL released) and a callback hands its item over directly, instead of through
        the wake socket and the selector. Returns how many items were dispatched (at most
        one batch). The caller should still yield to the loop afterwards (a checkpoint):
        the loop has not looked at its I/O meanwhile.
        """
        if self.closed:
            return 0
        n: int = lib.aiohcs_queue_poll(
            self._queue, self._rfd, self._items, _BATCH, int(seconds * 1e9)
        )
        if n:
            self._dispatch_batch(n)
            self.dispatched += n
            self.polled += n
        return n

    def _dispatch_batch(self, n: int) -> None:
        for item in decode_items(self._items, n):
            self._dispatch(item)

    def _dispatch(self, item: Item) -> None:
        target = self._targets.get(item.id)
        if target is None:
            # Registered in C but already forgotten here (a racing unregister): nobody
            # takes the result, so release what it owns.
            close_process_handles(item.process_info)
            release_handle(item)
            return
        try:
            target._deliver(item)
        except BaseException:  # never let one target kill the drain task
            _log.exception("aiohcs: error while dispatching an HCS callback item")

    # ---------------------------------------------------------------- drain task

    def _start(self) -> None:
        self._task = self.backend.start_drain(self)

    async def serve(self) -> None:
        """The portable drain task: wait for the wake socket, drain, until the loop ends."""
        try:
            rsock = self._native.rsock
            wait_wake = self.backend.wait_wake
            checkpoint = self.backend.checkpoint
            while True:
                await wait_wake(rsock)
                if self.inherited:
                    return  # (a forked child still running the parent's loop)
                self.drain()
                while self.more:
                    await checkpoint()
                    self.drain()
        except Exception:
            # Never crash the loop (a trio system task that raises would): the bridge
            # closes, its waiters are resolved with BridgeClosedError, HCS is unaffected.
            _log.exception("aiohcs: the callback bridge of this event loop failed")
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """Close the bridge: free the C queue, tell every target (once; the loop ends)."""
        if self.closed:
            return
        # The bridge stays mapped to its loop, so later calls there fail fast instead of
        # starting a drain task on a loop that is shutting down.
        self.closed = True
        jobs, self._jobs = self._jobs, []
        drop_jobs(jobs)
        self.admission.admit_all()
        # First the C side: afterwards no callback reaches this loop any more.
        self._native.free()
        targets = list(self._targets.values())
        self._targets.clear()
        for target in targets:
            try:
                target._bridge_closed()
            except BaseException:
                _log.exception("aiohcs: error while closing a target at loop shutdown")

    def after_fork(self) -> None:
        """A forked child inherited this bridge: mark it, forget the parent's waiters."""
        self.inherited = True
        self.closed = True
        self._native.after_fork()
        # The tasks waiting on it are the parent's: nothing in the child may wake them.
        self._jobs = []
        self.admission.forget_all()
        for target in list(self._targets.values()):
            after_fork = getattr(target, "_after_fork", None)
            if after_fork is not None:
                after_fork()
