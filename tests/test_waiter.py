"""The operation waiter's state machine, driven without an event loop.

:func:`aiohcs._operation._waiter.step` is pure: every (state, event) pair is checked
against the behaviour the waiter had before it was a state machine, and a
:class:`~aiohcs._operation._waiter.Waiter` on a stand-in bridge is fed the items and calls
of each path an operation can take.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from aiohcs._bridge import ITEM_CALL, ITEM_COMPLETION, Item, ProcessInfo
from aiohcs._operation._waiter import (
    PENDING,
    Action,
    Event,
    Result,
    Start,
    State,
    Waiter,
    step,
)
from aiohcs.errors import BridgeClosedError

A = Action
NONE = Action.NONE

#: start axis: (start, event) -> (new start, actions); events not listed leave it alone.
START_TABLE = {
    (Start.IN_THREAD, Event.CALLED): (Start.STARTED, NONE),
    (Start.IN_THREAD_COMPLETED, Event.CALLED): (Start.COMPLETED, A.FORGET),
    (Start.STARTED, Event.CALLED): (Start.STARTED, NONE),
    (Start.COMPLETED, Event.CALLED): (Start.COMPLETED, A.FORGET),
    (Start.IN_THREAD, Event.COMPLETED): (Start.IN_THREAD_COMPLETED, NONE),
    (Start.IN_THREAD_COMPLETED, Event.COMPLETED): (Start.IN_THREAD_COMPLETED, NONE),
    (Start.STARTED, Event.COMPLETED): (Start.COMPLETED, A.FORGET),
    (Start.COMPLETED, Event.COMPLETED): (Start.COMPLETED, A.FORGET),
}

#: result axis: (result, event) -> (new result, actions).
RESULT_TABLE = {
    (Result.WAITING, Event.COMPLETED): (Result.READY, A.KEEP | A.WAKE),
    (Result.READY, Event.COMPLETED): (Result.READY, A.DROP),
    (Result.FAILED, Event.COMPLETED): (Result.FAILED, A.DROP),
    (Result.CLOSED, Event.COMPLETED): (Result.CLOSED, A.DROP),
    (Result.ABANDONED, Event.COMPLETED): (Result.ABANDONED, A.DROP),
    (Result.WAITING, Event.ABANDON): (Result.ABANDONED, NONE),
    (Result.READY, Event.ABANDON): (Result.ABANDONED, A.DROP_HELD),
    (Result.FAILED, Event.ABANDON): (Result.FAILED, NONE),
    (Result.CLOSED, Event.ABANDON): (Result.FAILED, NONE),
    (Result.ABANDONED, Event.ABANDON): (Result.ABANDONED, NONE),
    (Result.WAITING, Event.FAIL): (Result.FAILED, A.SET_ERROR | A.WAKE),
    (Result.ABANDONED, Event.FAIL): (Result.FAILED, A.SET_ERROR | A.WAKE),
    (Result.READY, Event.FAIL): (Result.READY, NONE),
    (Result.FAILED, Event.FAIL): (Result.FAILED, NONE),
    (Result.CLOSED, Event.FAIL): (Result.CLOSED, NONE),
    (Result.WAITING, Event.BRIDGE_CLOSED): (Result.CLOSED, A.SET_ERROR | A.WAKE),
    (Result.ABANDONED, Event.BRIDGE_CLOSED): (Result.FAILED, A.SET_ERROR | A.WAKE),
    (Result.READY, Event.BRIDGE_CLOSED): (Result.READY, A.WAKE),
    (Result.FAILED, Event.BRIDGE_CLOSED): (Result.FAILED, A.WAKE),
    (Result.CLOSED, Event.BRIDGE_CLOSED): (Result.CLOSED, A.WAKE),
    **{(r, Event.CALLED): (r, A.WAKE) for r in Result},
}


@pytest.mark.parametrize(
    ("start", "result", "event"), list(itertools.product(Start, Result, Event))
)
def test_every_state_and_event_has_the_transition_of_the_table(
    start: Start, result: Result, event: Event
) -> None:
    new_start, start_actions = START_TABLE.get((start, event), (start, NONE))
    new_result, result_actions = RESULT_TABLE[result, event]
    assert step(State(start, result), event) == (
        State(new_start, new_result),
        start_actions | result_actions,
    )


def test_pending_means_no_outcome_yet() -> None:
    assert {Result.WAITING, Result.ABANDONED} == PENDING


class FakeBridge:
    """What a waiter uses of its bridge, without a loop."""

    closed = False

    def __init__(self) -> None:
        self.forgotten: list[int] = []
        self.completion_time = _Times()

    def forget(self, ident: int) -> None:
        self.forgotten.append(ident)


class _Times:
    def __init__(self) -> None:
        self.recorded: list[float] = []

    def record(self, seconds: float) -> None:
        self.recorded.append(seconds)


def item(kind: int = ITEM_COMPLETION, result: int = 0, info: ProcessInfo | None = None) -> Item:
    return Item(7, kind, result, 0, None, False, info, 0, 0)


def waiter(dropped: list[Item] | None = None) -> tuple[Waiter, FakeBridge]:
    bridge = FakeBridge()
    on_abandoned = dropped.append if dropped is not None else None
    w = Waiter(bridge, on_abandoned)  # type: ignore[arg-type]
    w.id = 7
    return w, bridge


def test_a_start_on_the_loop_thread_then_its_completion() -> None:
    w, bridge = waiter()
    assert w.pending()
    done = item()
    w._deliver(done)
    assert w.state == State(Start.COMPLETED, Result.READY)
    assert bridge.forgotten == [7]
    assert not w.pending()
    assert w.item is done
    assert w.error is None


def test_the_completion_time_is_recorded_for_starts_on_the_loop_thread() -> None:
    w, bridge = waiter()
    w.started = 1.0
    w._deliver(item())
    assert len(bridge.completion_time.recorded) == 1
    w, bridge = waiter()  # (started 0.0: a start on another thread)
    w._deliver(item())
    assert bridge.completion_time.recorded == []


@pytest.mark.parametrize("completion_first", [False, True])
def test_a_start_on_another_thread_forgets_the_id_once_both_came(completion_first: bool) -> None:
    w, bridge = waiter()
    w.in_thread()
    assert w.in_flight_elsewhere()
    events = [item(), item(ITEM_CALL)]
    if not completion_first:
        events.reverse()
    w._deliver(events[0])
    assert bridge.forgotten == []
    w._deliver(events[1])
    assert bridge.forgotten == [7]
    assert not w.in_flight_elsewhere()
    assert w.state == State(Start.COMPLETED, Result.READY)


def test_a_native_start_hands_its_call_item_over_first() -> None:
    w, _ = waiter()
    calls: list[Item] = []
    w.on_call = calls.append
    w.in_thread()
    call = Item(7, ITEM_CALL, -5, 0, "doc", False, None, 0, 0)
    w._deliver(call)
    assert calls == [call]
    assert w.begun == (-5, "doc")


def test_an_abandoned_waiter_drops_the_held_and_the_late_completion() -> None:
    dropped: list[Item] = []
    w, _ = waiter(dropped)
    held = item()
    w._deliver(held)
    w.abandon()
    assert dropped == [held]
    assert w.item is None
    w, _ = waiter(dropped)
    w.abandon()
    late = item()
    w._deliver(late)
    assert dropped == [held, late]
    assert w.state.result is Result.ABANDONED


def test_dropping_closes_the_pipe_handles_even_if_on_abandoned_raises(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aiohcs._operation import _waiter

    closed: list[Any] = []
    monkeypatch.setattr(_waiter, "close_process_handles", closed.append)

    def boom(_: Item) -> None:
        raise ValueError("boom")

    w = Waiter(FakeBridge(), boom)  # type: ignore[arg-type]
    w.abandon()
    info = ProcessInfo(1, 2, 3, 4)
    with pytest.raises(ValueError, match="boom"):
        w._deliver(item(info=info))
    assert closed == [info]


def test_fail_resolves_only_a_pending_waiter() -> None:
    w, _ = waiter()
    error = RuntimeError("closed")
    w.fail(error)
    assert w.error is error
    assert w.state.result is Result.FAILED
    w.fail(RuntimeError("again"))
    assert w.error is error
    w, _ = waiter()
    done = item()
    w._deliver(done)
    w.fail(error)
    assert w.error is None
    assert w.item is done


def test_the_loop_shutting_down_resolves_a_pending_waiter() -> None:
    w, _ = waiter()
    w._bridge_closed()
    assert isinstance(w.error, BridgeClosedError)
    assert w.state == State(Start.STARTED, Result.CLOSED)
    w.abandon()
    assert w.state == State(Start.STARTED, Result.FAILED)
    w, _ = waiter()
    w._deliver(item())
    w._bridge_closed()
    assert w.error is None


def test_the_wake_up_carries_the_outcome() -> None:
    woken: list[Any] = []

    class Backend:
        def unpark(self, parked: Any, value: Any) -> None:
            woken.append(value)

    w, bridge = waiter()
    bridge.backend = Backend()  # type: ignore[attr-defined]
    w._parked = object()
    done = item()
    w._deliver(done)
    assert woken == [done]
    w, bridge = waiter()
    bridge.backend = Backend()  # type: ignore[attr-defined]
    w._parked = object()
    error = RuntimeError("closed")
    w.fail(error)
    assert woken == [done, error]
