"""The loop side of the callback bridge.

HCS calls the C callbacks of ``aiohcs/_native/bridge.c`` on threads it owns. They never run
Python: each pushes one item (id, kind, HRESULT, UTF-16 payload, process info) onto the C
queue of the event loop that registered the id, and writes one byte to that loop's wake
socket when the queue goes from empty to non-empty.

Per event loop (asyncio loop or trio run) there is one :class:`LoopBridge`: the C queue, a
socketpair and one drain task. The drain task is started lazily by the first registration on
that loop and lives in a "system" task (``loop.create_task`` on asyncio,
``trio.lowlevel.spawn_system_task`` on trio) so that it never belongs to a user's cancel scope.
It awaits ``anyio.wait_readable`` on the read end, drains the C queue in batches through an
ordinary ``lib`` call, and hands each item to the :class:`Target` registered under its id.

Blocking HCS calls never run on the loop thread. The frequent ones (create, open and close
of compute systems, close of processes) are *native calls* (:func:`run_native`): the bridge's
own C threads make them and report through the same queue, without ever taking the GIL, so
the loop never waits for it because of them. The rest run in a pool of Python worker threads
(:func:`run_sync`), whose results come back the same way. Ways of keeping the loop's
turns short under load: at most 8 items are dispatched per turn, and calls begin within a
budget per turn (:meth:`LoopBridge.admit`: 4 creates of systems or processes, or 16 other
operations, opens or closes); the first call of the process has a worker thread load pydantic and
the schema models before it goes on. And a task whose operation completes within
microseconds while the loop is idle polls for it (:meth:`LoopBridge.poll`).

After ``os.fork()`` the child starts afresh (see :func:`_after_fork_in_child`).

Shutdown: when the loop ends, the drain task is cancelled; it then frees the C queue (which
unregisters every id of the loop, so late callbacks are dropped in C and their operations are
still closed there) and tells every remaining target that the bridge is gone, so no waiter
hangs. If the loop disappears without cancelling the task, a finalizer on the loop object
frees the queue instead.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import queue
import socket
import sys
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, Final, NamedTuple, Protocol, TypeAlias, TypeVar

import anyio
import anyio.lowlevel
import sniffio

from aiohcs._native import ffi, lib
from aiohcs.errors import RESOURCE_ERRNOS, HResult, ResourceExhausted, UsedAfterForkError

__all__ = [
    "BridgeClosedError",
    "Item",
    "LoopBridge",
    "Sleeper",
    "Target",
    "current_bridge",
    "now_ns",
    "run_sync",
]

_T = TypeVar("_T")
# A job for the worker threads: fn, args, and what to run instead if it is dropped.
_Job: TypeAlias = "tuple[Callable[..., None], tuple[Any, ...], Callable[[], None] | None]"

_log: Final = logging.getLogger("aiohcs")

# Items dispatched per turn of the loop. Each item usually makes one task runnable, and the
# loop runs every task made runnable in one turn before it looks at timers and I/O again:
# a small budget keeps a burst of completions from stalling the loop (its lag is about
# budget x the cost of one woken task's step), at the price of one more loop turn per
# _BUDGET items. Measured with bursts of 100 creates (each woken step ~60-100 us): 8 gave a
# loop lag p99 of ~5 ms against ~8 ms with 16, at the same throughput.
_BUDGET: Final = 8
_BATCH: Final = _BUDGET
# What may begin per turn of the loop (see LoopBridge.admit), in units: creating a system
# or a process (~60 us of loop time) costs ADMIT_CREATE, starting any other operation or a
# close ADMIT_CALL. Measured with bursts of 100 creates: 4 creates per turn gave a loop lag
# p99 of ~3.9 ms against ~5-6 ms with 8, at the same throughput.
_ADMIT_BUDGET: Final = 16
#: Admission cost of creating a system or a process.
ADMIT_CREATE: Final = 4
#: Admission cost of starting any other operation, or of a close.
ADMIT_CALL: Final = 1

ITEM_COMPLETION: Final[int] = lib.AIOHCS_ITEM_COMPLETION
ITEM_EVENT: Final[int] = lib.AIOHCS_ITEM_EVENT
ITEM_CALL: Final[int] = lib.AIOHCS_ITEM_CALL
_PAYLOAD_LOST: Final[int] = lib.AIOHCS_ITEM_PAYLOAD_LOST
_HAS_PROCESS_INFO: Final[int] = lib.AIOHCS_ITEM_HAS_PROCESS_INFO
_HAS_SYSTEM: Final[int] = lib.AIOHCS_ITEM_HAS_SYSTEM
#: Kinds of native calls (blocking HCS calls on the bridge's C threads; see run_native).
CALL_CREATE_SYSTEM: Final[int] = lib.AIOHCS_CALL_CREATE_SYSTEM
CALL_CREATE_SYSTEM_PLAIN: Final[int] = lib.AIOHCS_CALL_CREATE_SYSTEM_PLAIN
CALL_OPEN_SYSTEM: Final[int] = lib.AIOHCS_CALL_OPEN_SYSTEM
CALL_CLOSE_SYSTEM: Final[int] = lib.AIOHCS_CALL_CLOSE_SYSTEM
CALL_CLOSE_PROCESS: Final[int] = lib.AIOHCS_CALL_CLOSE_PROCESS
REGISTER_PROCESS_INFO: Final[int] = lib.AIOHCS_REGISTER_PROCESS_INFO
REGISTER_ONESHOT: Final[int] = lib.AIOHCS_REGISTER_ONESHOT
REGISTER_POSTED: Final[int] = lib.AIOHCS_REGISTER_POSTED


class BridgeClosedError(RuntimeError):
    """The event loop this object belongs to has shut down (its bridge is closed)."""


class NoThreadError(RuntimeError):
    """No bridge thread could be started for a native call (the call was not made)."""


class ProcessInfo(NamedTuple):
    """HCS_PROCESS_INFORMATION of a CreateProcess/GetProcessInfo completion.

    The std handles are caller-owned HANDLE values (0 when absent); whoever receives them
    must ``CloseHandle`` them.
    """

    process_id: int
    std_input: int
    std_output: int
    std_error: int


class Item(NamedTuple):
    """One item drained from the C queue."""

    id: int
    kind: int
    result: int
    event_type: int
    payload: str | None
    payload_lost: bool
    process_info: ProcessInfo | None
    operation: int
    timestamp_ns: int
    #: Native calls: the HCS_SYSTEM the call produced (0 if none; the receiver owns it).
    handle: int = 0
    #: Native calls: the HRESULT of the event callback registration.
    callback_result: int = 0


class Target(Protocol):
    """What an id is registered for (an operation waiter, a handle's event hub)."""

    def _deliver(self, item: Item) -> None:
        """Handle one item for this id (runs on the loop; must not block)."""

    def _bridge_closed(self) -> None:
        """The loop is shutting down: resolve every waiter (runs at most once)."""


def now_ns() -> int:
    """The bridge's monotonic clock (the clock of ``Item.timestamp_ns``), in nanoseconds."""
    value: int = lib.aiohcs_now_ns()
    return value


def close_process_handles(info: ProcessInfo | None) -> None:
    """Close the caller-owned std handles of ``info`` (for results nobody will take)."""
    if info is None:
        return
    for handle in (info.std_input, info.std_output, info.std_error):
        if handle not in (0, 0xFFFFFFFFFFFFFFFF, -1):
            lib.CloseHandle(ffi.cast("HANDLE", handle))


def _handle_int(h: Any) -> int:
    return int(ffi.cast("uintptr_t", h))


def close_detached(kind: int, handle: Any) -> None:
    """Close ``handle`` (``kind``: CALL_CLOSE_SYSTEM / CALL_CLOSE_PROCESS) on a bridge thread.

    Nobody waits for it; from any thread (finalizers, shutdown paths).
    """
    if not lib.aiohcs_call_submit(kind, 0, ffi.NULL, handle, ffi.NULL, ffi.NULL, ffi.NULL, 0):
        _close_in_worker(kind, handle)


def _close_in_worker(kind: int, handle: Any) -> None:
    """The close of :func:`close_detached` when no bridge thread can take it."""
    close = lib.HcsCloseComputeSystem if kind == CALL_CLOSE_SYSTEM else lib.HcsCloseProcess
    run_detached(close, handle)


def release_handle(item: Item) -> None:
    """Close the system handle a native call produced, for an item nobody takes."""
    if item.handle:
        close_detached(CALL_CLOSE_SYSTEM, ffi.cast("HCS_SYSTEM", item.handle))


def resource_error(
    exc: BaseException,
    *,
    operation: str | None = None,
    system_id: str | None = None,
    process_id: int | None = None,
) -> ResourceExhausted | None:
    """The typed error for ``exc`` if it means this process is out of a resource, else None.

    Out of descriptors or memory (``OSError`` EMFILE/ENFILE/ENOMEM, ``MemoryError``) and a
    thread that cannot be started (threading's ``RuntimeError``) are
    :class:`~aiohcs.errors.ResourceExhausted`; the keywords are its context.
    """
    if isinstance(exc, OSError) and exc.errno in RESOURCE_ERRNOS:
        return ResourceExhausted.from_os_error(
            exc, operation=operation, system_id=system_id, process_id=process_id
        )
    text: str | None = None
    if isinstance(exc, MemoryError):
        text = str(exc) or None
    elif type(exc) is RuntimeError and "thread" in str(exc):
        # (threading.Thread.start: "can't start new thread": out of memory, or of the
        # threads this process may have)
        text = str(exc)
    else:
        return None
    return ResourceExhausted(
        HResult.E_OUTOFMEMORY,
        text,
        operation=operation,
        system_id=system_id,
        process_id=process_id,
    )


@contextlib.contextmanager
def typed_resource_errors(operation: str | None = None) -> Iterator[None]:
    """Raise :func:`resource_error` of what the block raises, if it has one."""
    try:
        yield
    except (OSError, MemoryError, RuntimeError) as exc:
        error = resource_error(exc, operation=operation)
        if error is None:
            raise
        raise error from exc


class _NativeQueue:
    """The C queue and socketpair of one loop; freed exactly once (drain task or finalizer)."""

    def __init__(self) -> None:
        """Out of descriptors or memory: :class:`~aiohcs.errors.ResourceExhausted`, nothing made."""
        with typed_resource_errors():
            self.rsock, self.wsock = socket.socketpair()
            try:
                self.rsock.setblocking(False)
                self.wsock.setblocking(False)
                self.queue = lib.aiohcs_queue_new(self.wsock.fileno())
                if self.queue == ffi.NULL:
                    raise MemoryError("aiohcs: cannot allocate the callback queue")
            except BaseException:
                self.rsock.close()
                self.wsock.close()
                raise
        self._lock = threading.Lock()
        self.freed = False

    def free(self) -> None:
        with self._lock:
            if self.freed:
                return
            self.freed = True
            queue, self.queue = self.queue, ffi.NULL
        # After aiohcs_queue_free returns no callback writes to the socket any more.
        lib.aiohcs_queue_free(queue)
        self.wsock.close()
        self.rsock.close()


def _decode_items(items: Any, n: int) -> list[Item]:
    out: list[Item] = []
    append = out.append
    unpack = ffi.unpack
    null = ffi.NULL
    for i in range(n):
        it = items[i]
        payload = unpack(it.payload, it.payload_length) if it.payload != null else None
        flags = it.flags
        info = None
        if flags & _HAS_PROCESS_INFO:
            info = ProcessInfo(
                it.process_id,
                _handle_int(it.std_input),
                _handle_int(it.std_output),
                _handle_int(it.std_error),
            )
        append(
            Item(
                it.id,
                it.kind,
                it.result,
                it.event_type,
                payload,
                bool(flags & _PAYLOAD_LOST),
                info,
                it.operation,
                it.timestamp_ns,
                _handle_int(it.std_input) if flags & _HAS_SYSTEM else 0,
                it.callback_result,
            )
        )
    lib.aiohcs_items_release(items, n)
    return out


class LoopBridge:
    """The C queue, wake socket, drain task and id → target table of one event loop."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self._native = _NativeQueue()
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
        #: asyncio: the loop (futures for :class:`Sleeper`); None on trio.
        self.loop: Any = None
        # trio: the low-level primitives Sleeper uses (looked up once).
        self._trio: Any = None
        self._trio_token: Any = None  # (trio: for call_soon_threadsafe)
        # What :meth:`idle` looks at: asyncio's ready queue and timer heap (attributes of
        # asyncio's own loops; other loop implementations never poll), or trio's
        # run statistics.
        self._ready: Any = None
        self._timers: Any = None
        if backend == "asyncio":
            import asyncio

            self.loop = asyncio.get_running_loop()
            self._ready = getattr(self.loop, "_ready", None)
            self._timers = getattr(self.loop, "_scheduled", None)
        else:
            import trio

            self._trio = trio.lowlevel
            self._trio_token = trio.lowlevel.current_trio_token()
        # Jobs for the worker threads, handed over together once this turn of the loop
        # is done (see submit_job).
        self._jobs: list[_Job] = []
        # Admission of costly calls (see admit): what is left of this turn's budget, the
        # tasks waiting for a later turn, and whether the budget's refill is scheduled.
        self._admit_left = _ADMIT_BUDGET
        self._admit_waiting: collections.deque[_Admitted] = collections.deque()
        self._admit_refill_scheduled = False
        self._refill_handle: Any = None  # (asyncio: the scheduled refill's handle)
        # Set while a task of this loop has the schema models loaded (see _warm_up).
        self._warming: anyio.Event | None = None
        self.closed = False
        #: True in a child process forked while this bridge existed (see _after_fork_in_child).
        self.inherited = False
        self.thread_id = threading.get_ident()
        self._task: Any = None
        #: Items received and dispatched so far (diagnostics, benchmarks).
        self.dispatched = 0
        #: Of those, the items taken by :meth:`poll`.
        self.polled = 0
        #: True after a drain that stopped at its budget (the queue may hold more).
        self.more = False

    def closed_error(self) -> RuntimeError:
        """The error for a use of this bridge once it is closed (or inherited across fork)."""
        if self.inherited:
            return UsedAfterForkError(_FORK_MESSAGE)
        return BridgeClosedError("the event loop of this object has shut down")

    def check_usable(self) -> None:
        """Raise :class:`UsedAfterForkError` if this bridge was inherited across fork."""
        if self.inherited:
            raise UsedAfterForkError(_FORK_MESSAGE)

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
        out = self._new_id
        op = lib.aiohcs_register_operation(self._queue, flags, out)
        if op == ffi.NULL:
            raise MemoryError("aiohcs: cannot create an HCS operation")
        ident: int = out[0]
        self._targets[ident] = target
        return ident, op

    def unregister(self, ident: int) -> None:
        """Forget ``ident`` (C and Python side); later callbacks for it are dropped in C.

        Safe from any thread (used by finalizers).
        """
        lib.aiohcs_unregister(ident)
        self._targets.pop(ident, None)

    def forget(self, ident: int) -> None:
        """Forget ``ident`` on the Python side only (a one-shot id the C side dropped)."""
        self._targets.pop(ident, None)

    def __len__(self) -> int:
        return len(self._targets)

    def call_soon_threadsafe(self, fn: Callable[[], object]) -> None:
        """Have the loop's thread run ``fn()`` soon; from any thread, never blocking.

        For finalizers, which run on whatever thread collects: waking a task is only safe
        on its loop's thread (trio refuses it elsewhere). Dropped once the loop has ended.
        """
        if self.backend == "trio":
            import trio

            with contextlib.suppress(trio.RunFinishedError):
                self._trio_token.run_sync_soon(fn)
        else:
            with contextlib.suppress(RuntimeError):  # the loop is closed
                self.loop.call_soon_threadsafe(fn)

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
            if self.loop is not None:
                self.loop.call_soon(self._flush_jobs)
            else:
                self._trio.current_trio_token().run_sync_soon(self._flush_jobs)

    def _flush_jobs(self) -> None:
        jobs, self._jobs = self._jobs, []
        if self.closed:
            _drop_jobs(jobs)
            return
        for fn, args, _ in jobs:
            try:
                workers.submit(fn, *args)
            except Exception as exc:  # (never raise here: trio would crash the run)
                _fail_job(fn, args, exc)

    # ---------------------------------------------------------------- admission

    async def admit(self, cost: int = ADMIT_CREATE) -> None:
        """Wait, if need be, for this turn of the loop to have room for one more call.

        Starting an HCS call costs the loop tens of microseconds (arguments are checked and
        converted, a waiter and an ``HCS_OPERATION`` are set up); creating a system or a
        process more. A loop runs every task that is ready in one turn, so a burst of calls
        started together would hold it for milliseconds: calls begin within a budget per
        turn (:data:`_ADMIT_BUDGET` units, a call costing ``cost``), the others wait, in
        order, for the next turns, like completions beyond the drain's budget. Without a
        burst this returns at once, without yielding.

        The very first call of the process first has a worker thread load pydantic and the
        schema models the API itself uses (see :func:`aiohcs._documents.warm_up`), so that
        loading them never stalls the loop.
        """
        if self.closed:
            return  # (the call finds the bridge closed; a close goes on)
        if not _schema_ready:
            await self._warm_up()
        if self._admit_left >= cost and not self._admit_waiting:
            # (No refill is scheduled for this: the budget is renewed only once a call
            # has to wait, which bounds each turn all the same and costs a lone call
            # nothing. A refill per call would cost one more loop callback per call.)
            self._admit_left -= cost
            return
        waiter = _Admitted(self, cost)
        self._admit_waiting.append(waiter)
        self._schedule_refill()
        try:
            while not waiter.admitted:
                await waiter._sleep()
        except BaseException:
            if waiter.admitted:  # woken, then cancelled: the slot goes to the next one
                self._admit_left += cost
            else:
                self._admit_waiting.remove(waiter)
            raise

    async def _warm_up(self) -> None:
        """Load the schema models in a worker thread (once per process; see :meth:`admit`).

        If that cannot be done (no thread can be started, say), the call goes on: the
        models then load where they are first needed, as without the warm-up.
        """
        loading = self._warming
        if loading is not None:  # another task of this loop loads them: wait for it
            await loading.wait()
            return
        self._warming = loading = anyio.Event()
        try:
            await run_sync(_warm_up_schema)
        except Exception:
            _log.debug("aiohcs: cannot load the schema models ahead of use", exc_info=True)
        finally:
            self._warming = None
            loading.set()

    def _schedule_refill(self) -> None:
        if self._admit_refill_scheduled or self.closed:
            return
        self._admit_refill_scheduled = True
        if self.loop is not None:
            self._refill_handle = self.loop.call_soon(self._refill)
        else:
            self._trio.current_trio_token().run_sync_soon(self._refill)

    def _refill(self) -> None:
        """A new turn: a new budget, first for the tasks that waited.

        At most one refill runs per turn and no more than the budget is spent between two
        refills, so at most the budget begins per turn.
        """
        self._admit_refill_scheduled = False
        self._admit_left = _ADMIT_BUDGET
        waiting = self._admit_waiting
        while waiting and self._admit_left >= waiting[0].cost:
            waiter = waiting.popleft()
            waiter.admitted = True
            waiter._wake()
            self._admit_left -= waiter.cost
        if waiting:
            self._schedule_refill()

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
        refill = self._admit_refill_scheduled and not self._admit_waiting
        if self.loop is None:
            stats = self._trio.current_statistics()
            return bool(
                stats.tasks_runnable == 0
                and stats.run_sync_soon_queue_size == (1 if refill else 0)
                and stats.seconds_to_next_deadline > seconds
            )
        ready, timers = self._ready, self._timers
        if ready is None or timers is None:
            return False
        if ready and not (refill and len(ready) == 1 and ready[0] is self._refill_handle):
            return False
        return not timers or timers[0].when() - self.loop.time() > seconds

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
        for item in _decode_items(self._items, n):
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

    async def _run(self) -> None:
        try:
            rsock = self._native.rsock
            wait_readable: Callable[[Any], Awaitable[None]] = anyio.wait_readable
            checkpoint: Callable[[], Awaitable[None]] = anyio.lowlevel.checkpoint
            if self.backend == "trio":
                import trio

                # The same waits without anyio's wrappers (this loop runs per wake-up).
                wait_readable = trio.lowlevel.wait_readable
                checkpoint = trio.lowlevel.checkpoint
            while True:
                await wait_readable(rsock)
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
            self._shutdown()

    def _shutdown(self) -> None:
        if self.closed:
            return
        # The bridge stays mapped to its loop, so later calls there fail fast instead of
        # starting a drain task on a loop that is shutting down.
        self.closed = True
        jobs, self._jobs = self._jobs, []
        _drop_jobs(jobs)
        # Calls waiting for admission go on (and find the bridge closed).
        while self._admit_waiting:
            waiter = self._admit_waiting.popleft()
            waiter.admitted = True
            waiter._wake()
        # First the C side: afterwards no callback reaches this loop any more.
        self._native.free()
        targets = list(self._targets.values())
        self._targets.clear()
        for target in targets:
            try:
                target._bridge_closed()
            except BaseException:
                _log.exception("aiohcs: error while closing a target at loop shutdown")

    # ---------------------------------------------------------------- start

    def _start(self) -> None:
        if self.backend == "trio":
            import trio

            trio.lowlevel.spawn_system_task(self._run, name="aiohcs bridge")
        else:
            import asyncio

            # The bridge keeps the task alive (the task waits on a future nobody else
            # holds). bridge -> task -> loop is no leak: the map of bridges holds them
            # weakly, so an abandoned loop and its bridge are collected together.
            self._task = asyncio.get_running_loop().create_task(
                self._run_asyncio(), name="aiohcs bridge"
            )

    def _drain_from_reader(self) -> None:
        if self.closed:
            return
        try:
            self.drain()
        except Exception:  # pragma: no cover - drain already guards every dispatch
            _log.exception("aiohcs: error while draining the callback queue")
        if self.more and not self.closed:
            # Budget used up: let the loop run, then continue (no wake byte will come).
            import asyncio

            asyncio.get_running_loop().call_soon(self._drain_from_reader)

    async def _run_asyncio(self) -> None:
        """asyncio: drain from a reader callback registered once on the wake socket.

        Same mechanism as awaiting ``anyio.wait_readable`` in a loop, without registering
        and unregistering the socket with the selector on every wake-up (measured: half the
        latency of an operation). The task itself only waits for the loop to shut down.
        Loops without ``add_reader`` (the Windows proactor loop) use the ``wait_readable``
        task; anyio serves it with its selector thread.
        """
        import asyncio

        loop = asyncio.get_running_loop()
        fd = self._native.rsock.fileno()
        try:
            loop.add_reader(fd, self._drain_from_reader)
        except NotImplementedError:
            with contextlib.suppress(BaseException):
                await self._run()
            return
        try:
            await asyncio.Future()  # until the loop cancels it at shutdown
        except BaseException:
            pass
        finally:
            if not loop.is_closed():
                loop.remove_reader(fd)
            self._shutdown()


def _fail_job(fn: Callable[..., None], args: tuple[Any, ...], exc: Exception) -> None:
    """No worker thread could take the job ``fn(*args)``: have it report a typed error."""
    error = resource_error(exc) or exc

    def call(*_: Any) -> None:
        raise error

    try:
        fn(args[0], call, *args[2:])  # (see submit_job: reports to its target at once)
    except Exception:
        _log.exception("aiohcs: error while failing a job no thread could take")


def _drop_jobs(jobs: list[_Job]) -> None:
    """The loop shuts down with jobs not yet handed to a thread.

    A job with ``on_drop`` (an operation start) is dropped and ``on_drop()`` releases it. A
    :func:`run_sync` call still runs, in a worker: it may be the close of a handle, which
    must happen whether or not anybody waits for it (its report is dropped in C).
    """
    for fn, args, on_drop in jobs:
        try:
            if on_drop is not None:
                on_drop()
            else:
                workers.submit(fn, *args)
        except Exception:
            _log.exception("aiohcs: error while dropping a job at loop shutdown")


class Sleeper:
    """A task parked until the loop wakes it: the cheapest wait each backend offers.

    asyncio parks on a bare future, trio with ``wait_task_rescheduled``. :meth:`_sleep`
    returns after :meth:`_wake` (or raises on cancellation); callers re-check their own
    condition in a loop. Loop thread only; at most one task sleeps at a time.
    """

    __slots__ = ("_parked", "bridge")

    def __init__(self, bridge: LoopBridge) -> None:
        self.bridge = bridge
        self._parked: Any = None

    async def _sleep(self) -> None:
        bridge = self.bridge
        if bridge.loop is not None:
            self._parked = future = bridge.loop.create_future()
            await future
            return
        lowlevel = bridge._trio
        self._parked = lowlevel.current_task()
        await lowlevel.wait_task_rescheduled(self._abort)

    async def _sleep_until(self, done: Callable[[], bool]) -> BaseException | None:
        """Sleep until ``done()`` whatever cancels the task meanwhile; return that cancellation.

        For waits on a worker thread that holds an HCS handle: they must not end before the
        thread does. anyio's shield stops anyio and trio cancellation; a native asyncio
        cancel (``task.cancel()``, ``asyncio.wait_for``, ``asyncio.timeout``) still reaches
        the sleep, so it is caught here and handed back for the caller to re-raise once it
        has dealt with the thread's outcome.
        """
        pending: BaseException | None = None
        with anyio.CancelScope(shield=True):
            while not done():
                try:
                    await self._sleep()
                except BaseException as exc:  # handed back, re-raised by the caller
                    pending = exc
        return pending

    def _after_fork(self) -> None:
        self._parked = None  # (a forked child: the parked task is the parent's)

    def _abort(self, raise_cancel: Any) -> Any:
        self._parked = None
        return self.bridge._trio.Abort.SUCCEEDED

    def _wake(self) -> None:
        parked = self._parked
        if parked is None:
            return
        self._parked = None
        bridge = self.bridge
        if bridge.loop is not None:
            if not parked.done():
                parked.set_result(None)
        else:
            bridge._trio.reschedule(parked)


class _Admitted(Sleeper):
    """A task waiting in :meth:`LoopBridge.admit` (woken by a refill of the budget)."""

    __slots__ = ("admitted", "cost")

    def __init__(self, bridge: LoopBridge, cost: int) -> None:
        super().__init__(bridge)
        self.admitted = False
        self.cost = cost


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
            from aiohcs._documents import warm_up

            warm_up()
        except Exception:
            _log.debug("aiohcs: loading the schema models ahead of use failed", exc_info=True)
        finally:
            sys.setswitchinterval(interval)
            _warm_up_saved.clear()
        _schema_ready = True


class _CallWaiter(Sleeper):
    """The target of one :func:`run_sync` or :func:`run_native` call.

    Its outcome arrives as an ITEM_CALL item.
    """

    __slots__ = ("done", "error", "id", "item", "value")

    def __init__(self, bridge: LoopBridge) -> None:
        super().__init__(bridge)
        self.done = False
        self.value: Any = None
        self.error: BaseException | None = None
        self.item: Item | None = None
        self.id = 0

    def _deliver(self, item: Item) -> None:
        self.bridge.forget(self.id)  # (registered POSTED: the C side forgot it)
        self.item = item
        self.done = True
        self._wake()

    def _bridge_closed(self) -> None:
        if not self.done:
            self.done = True
            self.error = BridgeClosedError("the event loop shut down while a call was running")
        self._wake()


def _run_detached(fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        fn(*args)
    except Exception:
        _log.exception("aiohcs: a call made while the event loop shut down failed")


def run_detached(fn: Callable[..., Any], *args: Any) -> None:
    """Have a worker thread run ``fn(*args)``, nobody waiting (errors are logged).

    From any thread, with or without a running loop: for finalizers.
    """
    workers.submit(_run_detached, fn, args)


def _call_job(waiter: _CallWaiter, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        waiter.value = fn(*args)
    except BaseException as exc:  # handed to the waiting task
        waiter.error = exc
    lib.aiohcs_post(waiter.id, 0)


async def _posted_call(
    submit: Callable[[_CallWaiter], None],
) -> tuple[_CallWaiter, BaseException | None]:
    """Register a waiter, ``submit(waiter)`` a call that posts to it, wait for the post.

    The wait lasts until the call has reported, whatever cancels the caller meanwhile; that
    cancellation is returned for the caller to raise once it has dealt with the outcome.
    """
    bridge = current_bridge()
    waiter = _CallWaiter(bridge)
    waiter.id = bridge.register(waiter, REGISTER_POSTED)
    try:
        submit(waiter)
    except BaseException:
        bridge.unregister(waiter.id)
        raise
    cancelled = await waiter._sleep_until(lambda: waiter.done)
    return waiter, cancelled


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
    waiter, cancelled = await _posted_call(
        lambda waiter: waiter.bridge.submit_job(_call_job, waiter, fn, args)
    )
    if cancelled is not None:
        if discard is not None and waiter.error is None:
            workers.submit(discard, waiter.value)
        raise cancelled
    if waiter.error is not None:
        raise waiter.error
    value: _T = waiter.value
    return value


_NULL_TEXTS: Final = (ffi.NULL, ffi.NULL, ffi.NULL)


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

    Raises :class:`NoThreadError` if no thread could take it (nothing happened then).
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
    if kind == CALL_OPEN_SYSTEM:
        await current_bridge().admit(ADMIT_CALL)
    waiter, cancelled = await _posted_call(
        lambda waiter: submit_native(
            kind, waiter.id, handle=handle, texts=texts, callback_id=callback_id
        )
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
        _close_in_worker(kind, handle)  # (never leave a handle open)


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


class WorkerPool:
    """Threads for blocking calls; they hand results back through the bridge's queue.

    Threads start on demand (up to :attr:`MAX_THREADS`) and end after :attr:`IDLE_SECONDS`
    without work. A job is ``fn(*args)``; it must not raise (jobs report their outcome with
    :c:func:`aiohcs_post`, which wakes the loop that waits for it). These are aiohcs'
    own threads, never HCS threads: running Python on them is fine.
    """

    MAX_THREADS: Final = 40
    IDLE_SECONDS: Final = 10.0

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        # (Also in a child process after fork: the threads did not come along.)
        self._jobs: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]]] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._pending = 0  # jobs queued, not yet taken
        self._waiting = 0  # threads waiting for a job
        self.threads = 0

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        """Queue ``fn(*args)`` for a worker thread (starting one if none is free)."""
        with self._lock:
            self._pending += 1
            spawn = self._pending > self._waiting and self.threads < self.MAX_THREADS
            if spawn:
                self.threads += 1
        if spawn:
            try:
                threading.Thread(target=self._work, name="aiohcs worker", daemon=True).start()
            except BaseException:
                with self._lock:
                    self.threads -= 1
                    alone = self.threads == 0
                    if alone:
                        self._pending -= 1
                if alone:  # nobody would ever run the job
                    raise
        self._jobs.put((fn, args))

    def _work(self) -> None:
        jobs, lock = self._jobs, self._lock
        while True:
            with lock:
                self._waiting += 1
            try:
                fn, args = jobs.get(timeout=self.IDLE_SECONDS)
            except queue.Empty:
                with lock:
                    self._waiting -= 1
                    # Stay if the others waiting cannot take every queued job.
                    if self._pending <= self._waiting:
                        self.threads -= 1
                        return
                continue
            with lock:
                self._waiting -= 1
                self._pending -= 1
            fn(*args)
            del fn, args


#: The process-wide pool for blocking HCS calls (every loop shares it).
workers: Final = WorkerPool()


# Loop token -> its bridge. Neither side keeps the loop alive: the map is weak on the loop,
# and holds the bridge weakly too (the bridge is kept alive by its drain task, which the
# loop owns), so a loop that is dropped without clean-up takes its bridge with it and the
# finalizers below free the C queue.
_bridges: weakref.WeakKeyDictionary[object, weakref.ref[LoopBridge]] = weakref.WeakKeyDictionary()
_bridges_lock = threading.Lock()
# Every bridge alive, also those of loops that have ended (their objects may outlive them).
_every_bridge: weakref.WeakSet[LoopBridge] = weakref.WeakSet()

_FORK_MESSAGE: Final = (
    "this aiohcs object (or event loop) comes from the parent process of an os.fork(): "
    "it cannot be used in the child. Start a new event loop in the child and create or "
    "open what it needs there (see the guide page 'Processes and fork')"
)


def _after_fork_in_child() -> None:
    """Make this module usable in a child process after ``os.fork()``.

    Only the forking thread came along: the worker pool starts empty (the C side resets
    its own pool, its locks and hcsim's state). The bridges of the parent's loops are
    inherited: their wake sockets are shared with the parent, and every object of theirs
    refers to HCS handles that do not exist in the child. They are marked, so that any
    use raises :class:`~aiohcs.errors.UsedAfterForkError` instead of waiting for ever;
    a new event loop in the child gets a new bridge.
    """
    global _bridges_lock, _warm_up_lock
    workers._reset()
    _bridges_lock = threading.Lock()
    _warm_up_lock = threading.Lock()
    if _warm_up_saved:  # (forked during a warm-up, whose thread did not come along)
        sys.setswitchinterval(_warm_up_saved.pop())
    for bridge in list(_every_bridge):
        bridge.inherited = True
        bridge.closed = True
        bridge._native._lock = threading.Lock()
        # The tasks waiting on it are the parent's: nothing in the child may wake them.
        bridge._jobs = []
        bridge._admit_waiting.clear()
        for target in list(bridge._targets.values()):
            after_fork = getattr(target, "_after_fork", None)
            if after_fork is not None:
                after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _native_token() -> tuple[str, object]:
    backend = sniffio.current_async_library()
    if backend == "asyncio":
        import asyncio

        return backend, asyncio.get_running_loop()
    if backend == "trio":
        import trio

        return backend, trio.lowlevel.current_trio_token()
    raise RuntimeError(f"aiohcs supports asyncio and trio, not {backend!r}")


def current_bridge() -> LoopBridge:
    """Return the bridge of the running event loop, starting it on first use."""
    backend, token = _native_token()
    ref = _bridges.get(token)
    bridge = ref() if ref is not None else None
    if bridge is None:
        with _bridges_lock:
            ref = _bridges.get(token)
            bridge = ref() if ref is not None else None
            if bridge is None:
                # Out of descriptors, memory or threads: ResourceExhausted, and nothing is
                # left made (no socket, no C queue, no mapping); the next call tries again.
                bridge = LoopBridge(backend)
                try:
                    with typed_resource_errors():
                        bridge._start()
                except BaseException:
                    bridge._native.free()
                    raise
                _bridges[token] = weakref.ref(bridge)
                _every_bridge.add(bridge)
                # If the loop (or the bridge) dies without the drain task's clean-up (an
                # asyncio loop closed with the task still pending), free the C queue then.
                weakref.finalize(token, bridge._native.free)
                weakref.finalize(bridge, bridge._native.free)
    if bridge.closed:
        raise bridge.closed_error()
    return bridge


def spawn_system_task(fn: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
    """Run ``fn()`` in a task that belongs to the loop, not to the caller's cancel scopes."""
    backend = sniffio.current_async_library()
    if backend == "trio":
        import trio

        trio.lowlevel.spawn_system_task(fn, name=name)
    else:
        import asyncio

        task = asyncio.get_running_loop().create_task(fn(), name=name)
        _background.add(task)
        task.add_done_callback(_background.discard)


_background: set[Any] = set()
