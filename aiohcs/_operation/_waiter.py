"""The waiter of one operation: an explicit state machine.

A waiter is the target of one operation id and the task waiting for it. What it has seen is
a :class:`State` of two parts: how far the start went (:class:`Start`: a start made on
another thread reports with an ITEM_CALL item, which may come before or after the
completion) and where the result is (:class:`Result`). :func:`step` is the pure transition
function, ``(state, event) -> (new state, actions)``; :class:`Waiter` feeds it the items and
calls that arrive and carries out the actions. The waiting task is woken with the outcome
(the completion item or the error), as trio's ``reschedule(task, Value(...))`` does.
"""

from __future__ import annotations

import enum
import itertools
import time
from collections.abc import Callable
from typing import Any, Final, NamedTuple

import anyio.lowlevel

from aiohcs._bridge import ITEM_CALL, Item, LoopBridge, Sleeper, close_process_handles
from aiohcs.errors import BridgeClosedError

__all__ = ["Action", "Event", "Result", "Start", "State", "Waiter", "step"]


class Start(enum.IntEnum):
    """How far the start of the operation went."""

    #: Started on another thread, which has not reported yet.
    IN_THREAD = enum.auto()
    #: Same, and the completion already came.
    IN_THREAD_COMPLETED = enum.auto()
    #: The start returned (on the loop thread, or the thread reported); no completion yet.
    STARTED = enum.auto()
    #: Started and completed: the id is forgotten.
    COMPLETED = enum.auto()


class Result(enum.IntEnum):
    """Where the outcome is."""

    #: Nothing yet; a task waits for it.
    WAITING = enum.auto()
    #: The completion item is held for the task.
    READY = enum.auto()
    #: Resolved with an error (the owner closed, or closed after the loop shut down); a
    #: completion that comes is dropped.
    FAILED = enum.auto()
    #: Resolved because the loop shut down (no completion can come any more).
    CLOSED = enum.auto()
    #: Nobody waits: a completion that comes is dropped.
    ABANDONED = enum.auto()


class Event(enum.IntEnum):
    """What happens to a waiter."""

    #: The thread that made the start reported (an ITEM_CALL item).
    CALLED = enum.auto()
    #: The completion item arrived.
    COMPLETED = enum.auto()
    #: The task stops waiting (cancelled, or gave up).
    ABANDON = enum.auto()
    #: The owner resolves it with an error (its handle was closed).
    FAIL = enum.auto()
    #: The loop shuts down.
    BRIDGE_CLOSED = enum.auto()


class Action(enum.IntFlag):
    """What the waiter does after a transition (in this order)."""

    NONE = 0
    #: Forget the id on the Python side (the C side forgot it).
    FORGET = enum.auto()
    #: Drop the item that just arrived (release what it owns).
    DROP = enum.auto()
    #: Keep the item that just arrived for the task.
    KEEP = enum.auto()
    #: Drop the item held for the task.
    DROP_HELD = enum.auto()
    #: Resolve with the event's error.
    SET_ERROR = enum.auto()
    #: Wake the waiting task, with the outcome.
    WAKE = enum.auto()


class State(NamedTuple):
    """The state of a waiter."""

    start: Start
    result: Result


#: Results with no outcome yet (the task would wait; see Waiter.pending).
PENDING: Final = frozenset((Result.WAITING, Result.ABANDONED))

_NEXT_START: Final[dict[tuple[Start, Event], tuple[Start, Action]]] = {
    (Start.IN_THREAD, Event.CALLED): (Start.STARTED, Action.NONE),
    (Start.IN_THREAD_COMPLETED, Event.CALLED): (Start.COMPLETED, Action.FORGET),
    (Start.STARTED, Event.CALLED): (Start.STARTED, Action.NONE),
    (Start.COMPLETED, Event.CALLED): (Start.COMPLETED, Action.FORGET),
    (Start.IN_THREAD, Event.COMPLETED): (Start.IN_THREAD_COMPLETED, Action.NONE),
    (Start.IN_THREAD_COMPLETED, Event.COMPLETED): (Start.IN_THREAD_COMPLETED, Action.NONE),
    (Start.STARTED, Event.COMPLETED): (Start.COMPLETED, Action.FORGET),
    (Start.COMPLETED, Event.COMPLETED): (Start.COMPLETED, Action.FORGET),
}

_NEXT_RESULT: Final[dict[tuple[Result, Event], tuple[Result, Action]]] = {
    # A report of the start only wakes the task (it waits for the thread).
    **{(r, Event.CALLED): (r, Action.WAKE) for r in Result},
    (Result.WAITING, Event.COMPLETED): (Result.READY, Action.KEEP | Action.WAKE),
    # A completion nobody waits for is dropped (a second one cannot come: the ids are
    # one-shot; nor can one after the loop shut down: its ids are gone).
    (Result.READY, Event.COMPLETED): (Result.READY, Action.DROP),
    (Result.FAILED, Event.COMPLETED): (Result.FAILED, Action.DROP),
    (Result.CLOSED, Event.COMPLETED): (Result.CLOSED, Action.DROP),
    (Result.ABANDONED, Event.COMPLETED): (Result.ABANDONED, Action.DROP),
    (Result.WAITING, Event.ABANDON): (Result.ABANDONED, Action.NONE),
    (Result.READY, Event.ABANDON): (Result.ABANDONED, Action.DROP_HELD),
    (Result.FAILED, Event.ABANDON): (Result.FAILED, Action.NONE),
    (Result.CLOSED, Event.ABANDON): (Result.FAILED, Action.NONE),
    (Result.ABANDONED, Event.ABANDON): (Result.ABANDONED, Action.NONE),
    # An error resolves only what has no outcome yet.
    (Result.WAITING, Event.FAIL): (Result.FAILED, Action.SET_ERROR | Action.WAKE),
    (Result.ABANDONED, Event.FAIL): (Result.FAILED, Action.SET_ERROR | Action.WAKE),
    (Result.READY, Event.FAIL): (Result.READY, Action.NONE),
    (Result.FAILED, Event.FAIL): (Result.FAILED, Action.NONE),
    (Result.CLOSED, Event.FAIL): (Result.CLOSED, Action.NONE),
    (Result.WAITING, Event.BRIDGE_CLOSED): (Result.CLOSED, Action.SET_ERROR | Action.WAKE),
    (Result.ABANDONED, Event.BRIDGE_CLOSED): (Result.FAILED, Action.SET_ERROR | Action.WAKE),
    (Result.READY, Event.BRIDGE_CLOSED): (Result.READY, Action.WAKE),
    (Result.FAILED, Event.BRIDGE_CLOSED): (Result.FAILED, Action.WAKE),
    (Result.CLOSED, Event.BRIDGE_CLOSED): (Result.CLOSED, Action.WAKE),
}


def _transition(state: State, event: Event) -> tuple[State, Action]:
    start, start_action = _NEXT_START.get((state.start, event), (state.start, Action.NONE))
    result, result_action = _NEXT_RESULT[state.result, event]
    return State(start, result), start_action | result_action


# Every transition, computed once: step() is then one lookup (it runs for every item).
_STATES: Final = {
    State(start, result): State(start, result) for start in Start for result in Result
}
_TABLE: Final[dict[tuple[State, Event], tuple[State, int]]] = {}
for _state, _event in itertools.product(_STATES, Event):
    _next, _actions = _transition(_state, _event)
    _TABLE[_state, _event] = (_STATES[_next], int(_actions))
del _state, _event, _next, _actions

# (Plain ints: tests of enum flags cost microseconds per item.)
_FORGET: Final = int(Action.FORGET)
_DROP: Final = int(Action.DROP)
_KEEP: Final = int(Action.KEEP)
_DROP_HELD: Final = int(Action.DROP_HELD)
_SET_ERROR: Final = int(Action.SET_ERROR)
_WAKE: Final = int(Action.WAKE)
_INITIAL: Final = _STATES[State(Start.STARTED, Result.WAITING)]
# (Module constants of the members used per item: an enum member looked up on its class
# costs ~0.1 us, as much as a small function call.)
_CALLED: Final = Event.CALLED
_COMPLETED: Final = Event.COMPLETED
_READY: Final = Result.READY
_WAITING: Final = Result.WAITING
_ABANDONED: Final = Result.ABANDONED

#: What Waiter._apply carries out: the table again, per event then per state (a State
#: hashes faster alone than in a tuple with the event), each action as its own flag (a
#: truth test costs less than a bit test).
_Plan = tuple[State, bool, bool, bool, bool, bool, bool]


def _plan(state: State, event: Event) -> _Plan:
    next_state, actions = _TABLE[state, event]
    return (
        next_state,
        bool(actions & _FORGET),
        bool(actions & _DROP),
        bool(actions & _KEEP),
        bool(actions & _DROP_HELD),
        bool(actions & _SET_ERROR),
        bool(actions & _WAKE),
    )


_PLANS: Final = {event: {state: _plan(state, event) for state in _STATES} for event in Event}


def step(state: State, event: Event) -> tuple[State, int]:
    """The transition function: the state after ``event`` and what to do (:class:`Action` bits).

    Pure (no I/O, no loop). Every (state, event) pair has a transition: events that cannot
    change anything any more are ignored (their action is empty or only wakes).
    """
    return _TABLE[state, event]


class Waiter(Sleeper):
    """The target of one operation id and the task waiting for it.

    It receives the completion and, for a start made on another thread, that thread's
    outcome (an ITEM_CALL item). The id is registered ONESHOT (+ POSTED for a start on
    another thread): the C side forgets it once everything came, and so does Python then.
    Only a start that failed is unregistered explicitly.
    """

    __slots__ = ("begun", "error", "id", "item", "on_abandoned", "on_call", "started", "state")

    #: The bridge of the loop (the whole of it: a waiter starts operations with it).
    bridge: LoopBridge

    def __init__(self, bridge: LoopBridge, on_abandoned: Callable[[Item], None] | None) -> None:
        # (Sleeper.__init__ spelled out: a waiter is made for every operation.)
        self.bridge = bridge
        self._parked = None
        self.state = _INITIAL
        self.item: Item | None = None
        self.error: BaseException | None = None
        self.on_abandoned = on_abandoned
        self.id = 0
        # A start made on another thread: its outcome.
        self.begun: tuple[int, str | None] | BaseException | None = None
        # perf_counter() when a start on the loop thread returned (0.0 for a start on
        # another thread): how long completions take, see the bridge's completion_time.
        self.started = 0.0
        # A native start: receives its ITEM_CALL item (and begun is taken from it).
        self.on_call: Callable[[Item], None] | None = None

    def _apply(self, event: Event, item: Item | None = None, error: Any = None) -> None:
        """Feed ``event`` to the transition table and carry out its actions, in order."""
        plan = _PLANS[event][self.state]
        self.state, forget, drop, keep, drop_held, set_error, wake = plan
        if forget:
            self.bridge.forget(self.id)
        if drop and item is not None:
            self._drop(item)
        if keep:
            self.item = item
        if drop_held:
            held, self.item = self.item, None
            if held is not None:
                self._drop(held)
        if set_error:
            self.error = error
        if wake:
            self._wake(self.item if self.state.result is _READY else self.error)

    def in_thread(self) -> None:
        """The start is made on another thread (it reports with an ITEM_CALL item)."""
        self.state = _STATES[State(Start.IN_THREAD, self.state.result)]

    def _deliver(self, item: Item) -> None:
        if item.kind == ITEM_CALL:
            if self.on_call is not None:
                self.begun = (item.result, item.payload)
                self.on_call(item)
            self._apply(_CALLED)
            return
        if self.started:
            self.bridge.completion_time.record(time.perf_counter() - self.started)
        self._apply(_COMPLETED, item)

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
        self._apply(Event.ABANDON)

    def _bridge_closed(self) -> None:
        self._apply(
            Event.BRIDGE_CLOSED,
            error=BridgeClosedError(
                "the event loop shut down while an HCS operation was in flight"
            ),
        )

    def fail(self, error: BaseException) -> None:
        """Resolve the waiter with ``error``; the late completion will be dropped."""
        self._apply(Event.FAIL, error=error)

    def pending(self) -> bool:
        """True while neither the completion nor an error has arrived."""
        result = self.state.result
        return result is _WAITING or result is _ABANDONED  # (PENDING, by identity)

    def in_flight_elsewhere(self) -> bool:
        """True while the thread making the start has not reported (and the loop runs)."""
        return (
            self.state.start in (Start.IN_THREAD, Start.IN_THREAD_COMPLETED)
            and not self.bridge.closed
        )

    async def outcome(self, inflight: set[Waiter] | None, polled: bool) -> Item:
        """Wait for the completion (listed in ``inflight`` meanwhile); return it or raise.

        A cancellation abandons the wait. ``polled``: the completion came by polling,
        without a turn of the loop, which the loop still gets (a checkpoint).
        """
        # (The state decides, not what the wake-up carried. pending() and _sleep() are
        # spelled out: this runs for every operation.)
        result = self.state.result
        if result is _WAITING or result is _ABANDONED:
            if inflight is not None:
                inflight.add(self)
            park = self.bridge.backend.park
            try:
                while True:
                    await park(self)
                    result = self.state.result
                    if result is not _WAITING and result is not _ABANDONED:
                        break
            except BaseException:
                self.abandon()
                raise
            finally:
                if inflight is not None:
                    inflight.discard(self)
        elif polled:
            # The completion came without a turn of the loop: the loop still gets its turn
            # (I/O, other tasks), and the call is a cancellation point as usual.
            try:
                await anyio.lowlevel.checkpoint()
            except BaseException:
                self.abandon()
                raise
        if self.error is not None:
            raise self.error
        item = self.item
        assert item is not None
        return item
