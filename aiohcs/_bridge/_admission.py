"""Admission: how many HCS calls may begin per turn of the loop."""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING, Final

import aiohcs._bridge._warmup as _warmup
from aiohcs._bridge._sleeper import Sleeper

if TYPE_CHECKING:
    from aiohcs._bridge._hub import Hub

__all__ = ["ADMIT_CALL", "ADMIT_CREATE", "Admission"]

# What may begin per turn of the loop (see Admission.admit), in units: creating a system
# or a process (~60 us of loop time) costs ADMIT_CREATE, starting any other operation or a
# close ADMIT_CALL. Measured with bursts of 100 creates: 4 creates per turn gave a loop lag
# p99 of ~3.9 ms against ~5-6 ms with 8, at the same throughput.
_ADMIT_BUDGET: Final = 16
#: Admission cost of creating a system or a process.
ADMIT_CREATE: Final = 4
#: Admission cost of starting any other operation, or of a close.
ADMIT_CALL: Final = 1


class _Admitted(Sleeper):
    """A task waiting in :meth:`Admission.admit` (woken by a refill of the budget)."""

    __slots__ = ("admitted", "cost")

    def __init__(self, bridge: Hub, cost: int) -> None:
        super().__init__(bridge)
        self.admitted = False
        self.cost = cost


class Admission:
    """The admission budget of one loop: what is left of this turn's, and who waits."""

    __slots__ = ("bridge", "left", "refill_handle", "refill_scheduled", "waiting")

    def __init__(self, bridge: Hub) -> None:
        self.bridge = bridge
        #: What is left of this turn's budget.
        self.left = _ADMIT_BUDGET
        #: The tasks waiting for a later turn, in order.
        self.waiting: collections.deque[_Admitted] = collections.deque()
        #: Whether the budget's refill is scheduled, and its handle: LoopBridge.idle
        #: ignores it while no call waits for it.
        self.refill_scheduled = False
        self.refill_handle: object | None = None

    async def admit(self, cost: int) -> None:
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
        bridge = self.bridge
        if bridge.closed:
            return  # (the call finds the bridge closed; a close goes on)
        if not _warmup._schema_ready:
            await _warmup.warm_up(bridge)
        if self.admit_now(cost):
            return
        waiter = _Admitted(bridge, cost)
        self.waiting.append(waiter)
        self._schedule_refill()
        park = bridge.backend.park  # (waiter._sleep() spelled out: bursts wait here)
        try:
            while not waiter.admitted:
                await park(waiter)
        except BaseException:
            if waiter.admitted:  # woken, then cancelled: the slot goes to the next one
                self.left += cost
            else:
                self.waiting.remove(waiter)
            raise

    def admit_now(self, cost: int) -> bool:
        """Admit a call without waiting if this turn has room; False if it must :meth:`admit`.

        The fast path of :meth:`admit`, for callers that start an operation per call: a
        plain call costs the loop less than a coroutine that returns at once. (False once
        the bridge closed: :meth:`admit` then lets the call go on to find it closed.)
        """
        if (
            self.left >= cost
            and not self.waiting
            and _warmup._schema_ready
            and not self.bridge.closed
        ):
            # (No refill is scheduled for this: the budget is renewed only once a call
            # has to wait, which bounds each turn all the same and costs a lone call
            # nothing. A refill per call would cost one more loop callback per call.)
            self.left -= cost
            return True
        return False

    def _schedule_refill(self) -> None:
        if self.refill_scheduled or self.bridge.closed:
            return
        self.refill_scheduled = True
        self.refill_handle = self.bridge.backend.call_soon(self._refill)

    def _refill(self) -> None:
        """A new turn: a new budget, first for the tasks that waited.

        At most one refill runs per turn and no more than the budget is spent between two
        refills, so at most the budget begins per turn.
        """
        self.refill_scheduled = False
        self.left = _ADMIT_BUDGET
        waiting = self.waiting
        while waiting and self.left >= waiting[0].cost:
            waiter = waiting.popleft()
            waiter.admitted = True
            waiter._wake()
            self.left -= waiter.cost
        if waiting:
            self._schedule_refill()

    def admit_all(self) -> None:
        """The loop shuts down: calls waiting for admission go on (and find it closed)."""
        while self.waiting:
            waiter = self.waiting.popleft()
            waiter.admitted = True
            waiter._wake()

    def forget_all(self) -> None:
        """A forked child: the waiting tasks are the parent's, nothing may wake them."""
        self.waiting.clear()
