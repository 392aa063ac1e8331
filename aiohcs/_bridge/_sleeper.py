"""A task parked until the loop wakes it, with a value (the cheapest wait of each backend)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from aiohcs._bridge._hub import Hub

__all__ = ["Sleeper"]


class Sleeper:
    """A task parked until the loop wakes it: the cheapest wait each backend offers.

    asyncio parks on a bare future, trio with ``wait_task_rescheduled``
    (see :meth:`~aiohcs._bridge._backends.LoopBackend.park`). :meth:`_sleep` returns the
    value given to :meth:`_wake` (or raises on cancellation); callers that may be woken
    spuriously re-check their own condition in a loop. Loop thread only; at most one task
    sleeps at a time.
    """

    __slots__ = ("_parked", "bridge")

    def __init__(self, bridge: Hub) -> None:
        self.bridge = bridge
        self._parked: Any = None

    def _sleep(self) -> Awaitable[Any]:
        """Park the task until :meth:`_wake` (an awaitable of the value it gives)."""
        return self.bridge.backend.park(self)

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
        """The parked task is cancelled (the backend asks, see ``LoopBackend.park``): it leaves."""
        self._parked = None
        return self.bridge.backend.aborted

    def _wake(self, value: Any = None) -> None:
        """Wake the parked task, if any, handing it ``value`` (loop thread only)."""
        parked = self._parked
        if parked is None:
            return
        self._parked = None
        self.bridge.backend.unpark(parked, value)
