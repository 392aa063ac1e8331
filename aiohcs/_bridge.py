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

Shutdown: when the loop ends, the drain task is cancelled; it then frees the C queue (which
unregisters every id of the loop, so late callbacks are dropped in C and their operations are
still closed there) and tells every remaining target that the bridge is gone, so no waiter
hangs. If the loop disappears without cancelling the task, a finalizer on the loop object
frees the queue instead.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, Final, NamedTuple, Protocol

import anyio
import anyio.lowlevel
import sniffio

from aiohcs._native import ffi, lib

__all__ = [
    "BridgeClosedError",
    "Item",
    "LoopBridge",
    "Target",
    "current_bridge",
    "now_ns",
]

_log: Final = logging.getLogger("aiohcs")

_BATCH: Final = 256
# Items dispatched per wake-up before the loop gets a turn.
_BUDGET: Final = 4 * _BATCH

ITEM_COMPLETION: Final[int] = lib.AIOHCS_ITEM_COMPLETION
ITEM_EVENT: Final[int] = lib.AIOHCS_ITEM_EVENT
_PAYLOAD_LOST: Final[int] = lib.AIOHCS_ITEM_PAYLOAD_LOST
_HAS_PROCESS_INFO: Final[int] = lib.AIOHCS_ITEM_HAS_PROCESS_INFO
REGISTER_PROCESS_INFO: Final[int] = lib.AIOHCS_REGISTER_PROCESS_INFO


class BridgeClosedError(RuntimeError):
    """The event loop this object belongs to has shut down (its bridge is closed)."""


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


class _NativeQueue:
    """The C queue and socketpair of one loop; freed exactly once (drain task or finalizer)."""

    def __init__(self) -> None:
        self.rsock, self.wsock = socket.socketpair()
        self.rsock.setblocking(False)
        self.wsock.setblocking(False)
        self.queue = lib.aiohcs_queue_new(self.wsock.fileno())
        if self.queue == ffi.NULL:
            self.rsock.close()
            self.wsock.close()
            raise MemoryError("aiohcs: cannot allocate the callback queue")
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
        self._items = ffi.new("aiohcs_item[]", _BATCH)
        self._targets: dict[int, Target] = {}
        self.closed = False
        self.thread_id = threading.get_ident()
        self._task: Any = None
        #: Items received and dispatched so far (diagnostics, benchmarks).
        self.dispatched = 0
        #: True after a drain that stopped at its budget (the queue may hold more).
        self.more = False

    # ---------------------------------------------------------------- registration

    def register(self, target: Target, flags: int = 0) -> int:
        """Register ``target`` and return the new id (the context to hand to HCS)."""
        if self.closed:
            raise BridgeClosedError("the event loop of this object has shut down")
        ident: int = lib.aiohcs_register(self._queue, flags)
        if ident == 0:
            raise MemoryError("aiohcs: cannot register a callback context")
        self._targets[ident] = target
        return ident

    def unregister(self, ident: int) -> None:
        """Forget ``ident`` (C and Python side); later callbacks for it are dropped in C.

        Safe from any thread (used by finalizers).
        """
        lib.aiohcs_unregister(ident)
        self._targets.pop(ident, None)

    def __len__(self) -> int:
        return len(self._targets)

    # ---------------------------------------------------------------- draining

    def drain(self, budget: int = _BUDGET) -> int:
        """Drain the C queue and dispatch the items; return how many were dispatched.

        Takes at most ``budget`` items, so that a flood of callbacks cannot starve the loop;
        :attr:`more` then says whether the queue may still hold items (no new wake byte
        comes for them: the caller must drain again soon).
        """
        if self.closed:
            return 0
        # Consume the wake bytes first (a byte written after this point announces items
        # this drain may already take; the next wake-up then finds the queue empty).
        try:
            while len(self._native.rsock.recv(4096)) == 4096:
                pass
        except (BlockingIOError, InterruptedError):
            pass
        total = 0
        self.more = False
        while total < budget:
            n = lib.aiohcs_queue_drain(self._queue, self._items, _BATCH)
            if n == 0:
                break
            batch = _decode_items(self._items, n)
            for item in batch:
                self._dispatch(item)
            total += n
            if n < _BATCH:
                break
        else:
            self.more = True
        self.dispatched += total
        return total

    def _dispatch(self, item: Item) -> None:
        target = self._targets.get(item.id)
        if target is None:
            # Registered in C but already forgotten here (a racing unregister): nobody
            # takes the result, so release what it owns.
            close_process_handles(item.process_info)
            return
        try:
            target._deliver(item)
        except BaseException:  # never let one target kill the drain task
            _log.exception("aiohcs: error while dispatching an HCS callback item")

    async def _run(self) -> None:
        try:
            rsock = self._native.rsock
            while True:
                await anyio.wait_readable(rsock)
                self.drain()
                while self.more:
                    await anyio.lowlevel.checkpoint()
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


# Loop token -> its bridge. Neither side keeps the loop alive: the map is weak on the loop,
# and holds the bridge weakly too (the bridge is kept alive by its drain task, which the
# loop owns), so a loop that is dropped without clean-up takes its bridge with it and the
# finalizers below free the C queue.
_bridges: weakref.WeakKeyDictionary[object, weakref.ref[LoopBridge]] = weakref.WeakKeyDictionary()
_bridges_lock = threading.Lock()


def _native_token() -> tuple[str, object]:
    backend = sniffio.current_async_library()
    if backend == "asyncio":
        import asyncio

        return backend, asyncio.get_running_loop()
    if backend == "trio":
        return backend, anyio.lowlevel.current_token().native_token
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
                bridge = LoopBridge(backend)
                _bridges[token] = weakref.ref(bridge)
                # If the loop (or the bridge) dies without the drain task's clean-up (an
                # asyncio loop closed with the task still pending), free the C queue then.
                weakref.finalize(token, bridge._native.free)
                weakref.finalize(bridge, bridge._native.free)
                bridge._start()
    if bridge.closed:
        raise BridgeClosedError("this event loop has shut down its aiohcs bridge")
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
