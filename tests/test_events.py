"""Typed events: decoding, accessors, open event types."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from aiohcs import schema, testing
from aiohcs.events import (
    Event,
    EventStream,
    EventType,
    LiveMigrationEvent,
    OperationProgress,
    ProcessExited,
    ServiceDisconnectedEvent,
    SystemCrashInitiated,
    SystemCrashReport,
    SystemExited,
    SystemGuestConnectionClosed,
    SystemRdpEnhancedModeStateChanged,
    SystemSiloJobCreated,
    UnknownEvent,
    VmLifecycleEvent,
    decode_event,
)
from aiohcs.system import ComputeSystem


@pytest.mark.parametrize(
    ("event_type", "cls"),
    [
        (1, SystemExited),
        (2, SystemCrashInitiated),
        (3, SystemCrashReport),
        (4, SystemRdpEnhancedModeStateChanged),
        (5, SystemSiloJobCreated),
        (6, SystemGuestConnectionClosed),
        (0x10000, ProcessExited),
        (0x02000000, ServiceDisconnectedEvent),
        (0, UnknownEvent),
        (0x01000000, UnknownEvent),  # operation callbacks are never enabled by aiohcs
        (0x80000002, VmLifecycleEvent),  # group values exceed INT32_MAX
        (0x80000003, LiveMigrationEvent),
        (0xC0000001, OperationProgress),
        (0x80000004, UnknownEvent),
    ],
)
def test_decode_maps_every_type(event_type: int, cls: type[Event]) -> None:
    event = decode_event(event_type, None)
    assert type(event) is cls
    assert event.type == event_type
    terminal = cls in (SystemExited, ProcessExited, ServiceDisconnectedEvent)
    assert event.TERMINAL is terminal


def test_negative_type_from_c_is_read_unsigned() -> None:
    assert decode_event(-0x7FFFFFFE, None).type == 0x80000002


def test_system_exited_accessors() -> None:
    raw = (
        '{"Status": -2143878906, "ExitType": "UnexpectedExit", '
        '"Attribution": [{"SystemExit": {"Detail": "UnexpectedExit", "Initiator": "Internal"}}]}'
    )
    event = decode_event(1, raw, timestamp_ns=123)
    assert isinstance(event, SystemExited)
    assert event.hresult == 0x80370106
    assert event.exit_type == "UnexpectedExit"
    assert event.attribution[0]["SystemExit"]["Initiator"] == "Internal"
    assert isinstance(event.status, schema.SystemExitStatus)
    assert event.status.to_dict() == event.data  # the model keeps every member
    assert event.payload is event.data
    assert event.raw == raw
    assert event.timestamp_ns == 123
    assert not event.synthesized
    model = event.payload_model()
    assert str(model.exit_type) == "UnexpectedExit"


def test_missing_or_malformed_payloads_are_tolerated() -> None:
    empty = decode_event(1, None)
    assert isinstance(empty, SystemExited)
    assert empty.exit_type is None
    assert empty.hresult == 0
    assert empty.attribution == []
    assert empty.payload_model() is None
    assert empty.status is None
    broken = decode_event(1, "{not json")
    assert broken.raw == "{not json"
    assert broken.data is None
    scalar = decode_event(6, "42")
    assert scalar.data == 42


@pytest.mark.parametrize(
    "status",
    [0x1_8037_0106, 0x1_0000_0000, -0x8000_0001, True, 1.5, "0x80370106", None],
)
def test_a_status_that_is_no_hresult_is_not_folded_into_one(status: object) -> None:
    """Out of 32-bit range, a bool or not a number: counted as absent, never masked."""
    event = decode_event(1, json.dumps({"Status": status, "ExitType": "UnexpectedExit"}))
    assert isinstance(event, SystemExited)
    assert event.hresult == 0
    assert event.exit_type == "UnexpectedExit"
    assert event.data == {"Status": status, "ExitType": "UnexpectedExit"}


def test_an_exit_code_true_is_no_exit_code() -> None:
    event = decode_event(0x10000, '{"Exited": true, "ExitCode": true, "LastWaitResult": 0}')
    assert isinstance(event, ProcessExited)
    assert event.exit_code is None


def test_process_exited_exit_code() -> None:
    ok = decode_event(
        0x10000, '{"ProcessId": 7, "Exited": true, "ExitCode": 42, "LastWaitResult": 0}'
    )
    assert isinstance(ok, ProcessExited)
    assert ok.exit_code == 42
    assert ok.payload_model().exit_code == 42
    assert isinstance(ok.status, schema.ProcessStatus)
    assert ok.status.exit_code == 42
    assert ok.status.process_id == 7
    failed = decode_event(
        0x10000, '{"ProcessId": 7, "Exited": true, "ExitCode": 0, "LastWaitResult": 5}'
    )
    assert isinstance(failed, ProcessExited)
    assert failed.exit_code is None


def test_crash_report_payload() -> None:
    event = decode_event(3, '{"SystemId": "vm", "CrashParameters": [30, 1, 2, 3, 4]}')
    assert isinstance(event, SystemCrashReport)
    assert event.report is not None
    assert event.report.crash_parameters == [30, 1, 2, 3, 4]
    assert event.raw is not None
    assert event.payload["CrashParameters"][0] == 30
    assert event.payload_model().system_id == "vm"


def test_equality_and_repr() -> None:
    a = decode_event(6, '{"x": 1}', timestamp_ns=1)
    b = decode_event(6, '{"x": 1}', timestamp_ns=2)
    assert a == b  # the delivery time is not part of the event's value
    assert a != decode_event(6, '{"x": 2}')
    assert repr(a) == "SystemGuestConnectionClosed(type=0x6, data={'x': 1})"
    assert repr(decode_event(0x4242, None)) == "UnknownEvent(type=0x4242)"
    assert EventType(1) is EventType.SYSTEM_EXITED


# ---------------------------------------------------------------- one stream, several tasks


def _n(event: Event) -> Any:
    return event.data.get("n") if isinstance(event.data, dict) else None


@pytest.mark.anyio
async def test_two_tasks_on_one_stream_share_its_events_and_both_end(vm: ComputeSystem) -> None:
    """Each event goes to exactly one consumer; the exit ends both (none hangs)."""
    await vm.start()
    stream = vm.events()
    got: dict[str, list[Event]] = {"a": [], "b": []}

    async def consume(name: str) -> None:
        async for event in stream:
            got[name].append(event)
            await anyio.sleep(0.01)  # (so that the other task gets some too)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(consume, "a")
            tg.start_soon(consume, "b")
            await anyio.sleep(0.05)  # both waiting in __anext__
            for n in range(1, 7):
                testing.raise_system_event("vm1", 6, f'{{"n": {n}}}')
            await anyio.sleep(0.1)
            await vm.terminate()
    every = got["a"] + got["b"]
    assert sorted(_n(e) for e in every if isinstance(e, SystemGuestConnectionClosed)) == [
        1,
        2,
        3,
        4,
        5,
        6,
    ]
    assert len([e for e in every if isinstance(e, SystemExited)]) == 1
    assert len(every) == 7
    assert got["a"]
    assert got["b"]
    assert stream.waiting == 0
    assert [e async for e in stream] == []  # ended for good


@pytest.mark.anyio
@pytest.mark.parametrize("how", ["stream", "handle"])
async def test_closing_wakes_every_task_waiting_on_a_stream(vm: ComputeSystem, how: str) -> None:
    other = await ComputeSystem.open(vm.id)  # (the fixture's handle stays open)
    stream = other.events()
    ended: list[int] = []

    async def consume(i: int) -> None:
        assert [e async for e in stream] == []
        ended.append(i)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for i in range(3):
                tg.start_soon(consume, i)
            await anyio.sleep(0.05)
            assert stream.waiting == 3
            if how == "stream":
                await stream.aclose()
            else:
                await other.aclose()
    await other.aclose()
    assert sorted(ended) == [0, 1, 2]
    assert stream.waiting == 0


@pytest.mark.anyio
async def test_a_cancelled_consumer_hands_its_event_on() -> None:
    """A task woken for an event but cancelled before taking it: the next one gets it."""
    stream = EventStream(None)
    got: list[Event] = []

    async def consume() -> None:
        got.append(await stream.__anext__())

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            first = anyio.CancelScope()
            tg.start_soon(_in_scope, first, consume)
            await anyio.sleep(0.02)
            tg.start_soon(consume)
            await anyio.sleep(0.02)
            assert stream.waiting == 2
            event = decode_event(6, '{"n": 1}')
            stream._push(event)  # wakes the first waiter ...
            first.cancel()  # ... which is cancelled before it runs
    assert got == [event]
    assert stream.waiting == 0
    assert stream.pending == 0


async def _in_scope(scope: anyio.CancelScope, function: Any) -> None:
    with scope:
        await function()
