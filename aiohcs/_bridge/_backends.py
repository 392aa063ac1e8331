"""What differs between asyncio and trio, behind one small protocol.

A :class:`LoopBackend` is chosen once per event loop (per :class:`~._core.LoopBridge`) by
:func:`current_backend`; nothing else in aiohcs asks which library runs. It offers what the
bridge needs from a loop: scheduling a callback (on the loop thread or from any thread),
parking a task and waking it with a value, the I/O wait of the drain task, starting that
task outside every user cancel scope, and telling whether the loop is idle. Only the
asyncio adapter reads asyncio's private ``loop._ready`` / ``loop._scheduled``.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import anyio
import anyio.lowlevel
import sniffio

_T = TypeVar("_T")
# Wake-up bytes taken per receive (each only means "the queue is not empty").
_WAKE_BYTES = 256

__all__ = [
    "AsyncioBackend",
    "Drained",
    "LoopBackend",
    "Parked",
    "TrioBackend",
    "current_backend",
    "loop_token",
]


class Parked(Protocol):
    """What a backend parks: an object with a slot for the parked task (see Sleeper)."""

    _parked: Any

    def _abort(self, raise_cancel: Any) -> Any:
        """The parked task is cancelled: forget it; return the backend's ``aborted``."""


class Drained(Protocol):
    """The bridge as the drain task sees it (see :class:`~._core.LoopBridge`)."""

    closed: bool
    more: bool

    @property
    def rsock(self) -> socket.socket:
        """The read end of the wake socket."""

    def drain(self) -> int:
        """Drain and dispatch one budget of items."""

    async def serve(self) -> None:
        """Wait for wake-ups and drain until the loop ends (the portable drain task)."""

    def shutdown(self) -> None:
        """Close the bridge (runs once the drain task ends)."""


class LoopBackend(Protocol):
    """One event loop as the bridge uses it."""

    #: "asyncio" or "trio".
    name: str
    #: What :meth:`Parked._abort` returns to let a cancelled parked task leave (trio's
    #: ``Abort.SUCCEEDED``; asyncio cancels a parked task without asking).
    aborted: object

    def call_soon(self, fn: Callable[[], object]) -> object:
        """Loop thread: run ``fn()`` in the next turn; returns what :meth:`idle` may ignore."""

    def call_soon_threadsafe(self, fn: Callable[[], object]) -> None:
        """Any thread, never blocking: run ``fn()`` on the loop soon (dropped once it ended)."""

    def idle(self, seconds: float, ignore: object | None) -> bool:
        """True if no task, callback or timer is due within ``seconds``.

        ``ignore``: one callback scheduled with :meth:`call_soon` that does not count.
        """

    def park(self, sleeper: Parked) -> Awaitable[Any]:
        """Park the current task in ``sleeper._parked`` until :meth:`unpark`.

        Returns what the task awaits (the value :meth:`unpark` gives). No coroutine of its
        own: this runs for every wait of every operation.
        """

    def unpark(self, parked: Any, value: Any) -> None:
        """Wake the task parked as ``parked`` (loop thread), handing it ``value``."""

    def wait_wake(self, sock: socket.socket) -> Awaitable[object]:
        """Wait for a wake-up byte on ``sock`` (it may be consumed: the drain reads the queue)."""

    def checkpoint(self) -> Awaitable[None]:
        """Yield one turn to the loop."""

    def start_drain(self, bridge: Drained) -> Any:
        """Start the bridge's drain task, which no user cancel scope owns."""

    async def run_shielded(
        self, fn: Callable[[], Awaitable[_T]]
    ) -> tuple[_T, BaseException | None]:
        """Run ``fn()`` to its end whatever cancels the caller: (its result, that cancellation).

        If ``fn`` raises, the caller's cancellation (if any) is raised instead of its error.
        """


class AsyncioBackend:
    """asyncio: futures, ``call_soon`` and a reader callback on the wake socket."""

    name = "asyncio"
    aborted: object = None

    def __init__(self) -> None:
        import asyncio

        self.loop = asyncio.get_running_loop()
        # What idle() looks at: the ready queue and the timer heap (attributes of asyncio's
        # own loops; with other loop implementations the task never polls).
        self._ready: Any = getattr(self.loop, "_ready", None)
        self._timers: Any = getattr(self.loop, "_scheduled", None)
        self.checkpoint = anyio.lowlevel.checkpoint

    def call_soon(self, fn: Callable[[], object]) -> object:
        return self.loop.call_soon(fn)

    def wait_wake(self, sock: socket.socket) -> Awaitable[object]:
        """Receive the wake-up bytes with the loop's own socket I/O (loops without add_reader).

        On the Windows proactor loop that is an overlapped receive, cancelled with the drain
        task, never anyio's selector thread: that thread would still be in ``select()`` on
        the socket when the bridge closes it at the loop's end (WSAENOTSOCK ends the thread,
        and with it every later ``wait_readable`` of the program).
        """
        return self.loop.sock_recv(sock, _WAKE_BYTES)

    def call_soon_threadsafe(self, fn: Callable[[], object]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed
            self.loop.call_soon_threadsafe(fn)

    def idle(self, seconds: float, ignore: object | None) -> bool:
        ready, timers = self._ready, self._timers
        if ready is None or timers is None:
            return False
        if ready and not (ignore is not None and len(ready) == 1 and ready[0] is ignore):
            return False
        return not timers or bool(timers[0].when() - self.loop.time() > seconds)

    def park(self, sleeper: Parked) -> Awaitable[Any]:
        sleeper._parked = future = self.loop.create_future()
        return future

    def unpark(self, parked: Any, value: Any) -> None:
        if not parked.done():
            parked.set_result(value)

    def start_drain(self, bridge: Drained) -> Any:
        # The bridge keeps the task alive (the task waits on a future nobody else holds).
        # bridge -> task -> loop is no leak: the map of bridges holds them weakly, so an
        # abandoned loop and its bridge are collected together.
        return self.loop.create_task(self._serve(bridge), name="aiohcs bridge")

    async def _serve(self, bridge: Drained) -> None:
        """Drain from a reader callback registered once on the wake socket.

        Same mechanism as awaiting ``anyio.wait_readable`` in a loop, without registering
        and unregistering the socket with the selector on every wake-up (measured: half the
        latency of an operation). The task itself only waits for the loop to shut down.
        Loops without ``add_reader`` (the Windows proactor loop) use the portable drain
        task, which receives the wake-up bytes with the loop's own socket I/O.
        """
        import asyncio

        loop = self.loop
        fd = bridge.rsock.fileno()
        try:
            loop.add_reader(fd, self._drain_from_reader, bridge)
        except NotImplementedError:
            with contextlib.suppress(BaseException):
                await bridge.serve()
            return
        try:
            await asyncio.Future()  # until the loop cancels it at shutdown
        except BaseException:
            pass
        finally:
            if not loop.is_closed():
                loop.remove_reader(fd)
            bridge.shutdown()

    def _drain_from_reader(self, bridge: Drained) -> None:
        if bridge.closed:
            return
        try:
            bridge.drain()
        except Exception:  # pragma: no cover - drain already guards every dispatch
            import logging

            logging.getLogger("aiohcs").exception("aiohcs: error while draining the callback queue")
        if bridge.more and not bridge.closed:
            # Budget used up: let the loop run, then continue (no wake byte will come).
            self.loop.call_soon(self._drain_from_reader, bridge)

    async def run_shielded(
        self, fn: Callable[[], Awaitable[_T]]
    ) -> tuple[_T, BaseException | None]:
        """Run ``fn()`` in a task of its own, which a native cancel of the caller cannot reach.

        anyio's shield stops anyio cancellation but not a native asyncio one
        (``task.cancel()``, ``asyncio.wait_for``, ``asyncio.timeout``, Ctrl-C under
        ``asyncio.run``): such a cancel arriving meanwhile is kept and returned.
        """
        loop = self.loop

        async def body() -> _T:
            return await fn()

        task = loop.create_task(body())
        cancelled: BaseException | None = None
        with anyio.CancelScope(shield=True):  # (no anyio cancellation is delivered here)
            while not task.done():
                finished = loop.create_future()

                def wake(_: Any, finished: Any = finished) -> None:
                    if not finished.done():
                        finished.set_result(None)

                task.add_done_callback(wake)
                try:
                    await finished
                except BaseException as exc:  # a native cancel: kept for the caller
                    task.remove_done_callback(wake)
                    cancelled = exc
        try:
            result = task.result()
        except BaseException as error:
            if cancelled is not None:
                raise cancelled from error
            raise
        return result, cancelled


class TrioBackend:
    """trio: ``wait_task_rescheduled``, the run's token and a system task."""

    name = "trio"

    def __init__(self) -> None:
        import outcome
        import trio

        self._trio = trio
        self._lowlevel = lowlevel = trio.lowlevel
        self.token = lowlevel.current_trio_token()
        # The same waits without anyio's wrappers (the drain task runs them per wake-up).
        self.wait_wake = lowlevel.wait_readable
        self.checkpoint = lowlevel.checkpoint
        self.aborted: object = lowlevel.Abort.SUCCEEDED
        self._value = outcome.Value

    def call_soon(self, fn: Callable[[], object]) -> object:
        self.token.run_sync_soon(fn)
        return fn

    def call_soon_threadsafe(self, fn: Callable[[], object]) -> None:
        with contextlib.suppress(self._trio.RunFinishedError):
            self.token.run_sync_soon(fn)

    def idle(self, seconds: float, ignore: object | None) -> bool:
        stats = self._lowlevel.current_statistics()
        return bool(
            stats.tasks_runnable == 0
            and stats.run_sync_soon_queue_size == (0 if ignore is None else 1)
            and stats.seconds_to_next_deadline > seconds
        )

    def park(self, sleeper: Parked) -> Awaitable[Any]:
        sleeper._parked = self._lowlevel.current_task()
        # (A bound method, not a closure per park: this runs for every wait.)
        return self._lowlevel.wait_task_rescheduled(sleeper._abort)

    def unpark(self, parked: Any, value: Any) -> None:
        self._lowlevel.reschedule(parked, self._value(value))

    def start_drain(self, bridge: Drained) -> Any:
        self._lowlevel.spawn_system_task(bridge.serve, name="aiohcs bridge")
        return None

    async def run_shielded(
        self, fn: Callable[[], Awaitable[_T]]
    ) -> tuple[_T, BaseException | None]:
        """Run ``fn()`` under a shield: trio's (anyio's) shield stops every cancellation."""
        with anyio.CancelScope(shield=True):
            result = await fn()
        return result, None


def loop_token() -> tuple[str, object]:
    """The running library's name and what identifies its running loop (or trio run)."""
    backend = sniffio.current_async_library()
    if backend == "asyncio":
        import asyncio

        return backend, asyncio.get_running_loop()
    if backend == "trio":
        import trio

        return backend, trio.lowlevel.current_trio_token()
    raise RuntimeError(f"aiohcs supports asyncio and trio, not {backend!r}")


def current_backend() -> LoopBackend:
    """The backend of the running event loop (asyncio or trio; else ``RuntimeError``)."""
    name, _ = loop_token()
    if name == "trio":
        return TrioBackend()
    return AsyncioBackend()
