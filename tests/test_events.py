"""Typed events: decoding, accessors, open event types."""

from __future__ import annotations

import pytest

from aiohcs import schema
from aiohcs.events import (
    Event,
    EventType,
    ProcessExited,
    ServiceDisconnected,
    SystemCrashInitiated,
    SystemCrashReport,
    SystemExited,
    SystemGuestConnectionClosed,
    SystemRdpEnhancedModeStateChanged,
    SystemSiloJobCreated,
    UnknownEvent,
    decode_event,
)


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
        (0x02000000, ServiceDisconnected),
        (0, UnknownEvent),
        (0x01000000, UnknownEvent),  # operation callbacks are never enabled by aiohcs
        (0x80000002, UnknownEvent),  # group values exceed INT32_MAX
        (0xC0000001, UnknownEvent),
    ],
)
def test_decode_maps_every_type(event_type: int, cls: type[Event]) -> None:
    event = decode_event(event_type, None)
    assert type(event) is cls
    assert event.type == event_type
    terminal = cls in (SystemExited, ProcessExited, ServiceDisconnected)
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
