"""The event groups of the newest SDK as typed events: VM lifecycle and live migration.

Decoding is checked on its own; delivery through the bridge with hcsim (events it raises
on state changes, and events injected with ``testing.raise_system_event``).
"""

from __future__ import annotations

import anyio
import pytest
from helpers import VM

from aiohcs import testing
from aiohcs.errors import UnsupportedOnThisHost
from aiohcs.events import (
    EventType,
    LiveMigrationEvent,
    OperationProgress,
    UnknownEvent,
    VmLifecycleEvent,
    decode_event,
)
from aiohcs.migration import MigrationEvent, MigrationOrigin, MigrationResult
from aiohcs.system import ComputeSystem


@pytest.mark.parametrize(
    ("event_type", "cls"),
    [
        (0x80000002, VmLifecycleEvent),
        (0x80000003, LiveMigrationEvent),
        (0xC0000001, OperationProgress),
        (0x80000004, UnknownEvent),
    ],
)
def test_group_types_decode(event_type: int, cls: type) -> None:
    event = decode_event(event_type, None)
    assert type(event) is cls
    assert event.type == event_type
    assert not event.TERMINAL


def test_group_type_values() -> None:
    assert int(EventType.GROUP_VM_LIFECYCLE) == 0x80000002
    assert int(EventType.GROUP_LIVE_MIGRATION) == 0x80000003
    assert int(EventType.GROUP_OPERATION_INFO) == 0xC0000001


def test_migration_event_accessors() -> None:
    raw = (
        '{"Origin": "Source", "Event": "BlackoutExited", "Result": "Success", '
        '"AdditionalDetails": {"BlackoutDurationMilliseconds": 12}}'
    )
    event = decode_event(EventType.GROUP_LIVE_MIGRATION, raw)
    assert isinstance(event, LiveMigrationEvent)
    assert (event.origin, event.event, event.result) == ("Source", "BlackoutExited", "Success")
    assert event.details == {"BlackoutDurationMilliseconds": 12}
    info = event.payload_model()
    assert info.origin is MigrationOrigin.SOURCE
    assert info.event is MigrationEvent.BLACKOUT_EXITED
    assert info.result is MigrationResult.SUCCESS


def test_migration_event_open_values_and_empty_payload() -> None:
    event = decode_event(EventType.GROUP_LIVE_MIGRATION, '{"Event": "SomethingNew"}')
    assert isinstance(event, LiveMigrationEvent)
    assert event.event == "SomethingNew"
    assert event.info.event == "SomethingNew"
    assert not event.info.event.known
    empty = decode_event(EventType.GROUP_LIVE_MIGRATION, None)
    assert isinstance(empty, LiveMigrationEvent)
    assert (empty.origin, empty.event, empty.result, empty.info) == (None, None, None, None)


def test_lifecycle_event_accessors() -> None:
    event = decode_event(
        EventType.GROUP_VM_LIFECYCLE, '{"State": "Running", "PreviousState": "Created"}'
    )
    assert isinstance(event, VmLifecycleEvent)
    assert (event.state, event.previous_state) == ("Running", "Created")
    odd = decode_event(EventType.GROUP_VM_LIFECYCLE, '["not", "an", "object"]')
    assert isinstance(odd, VmLifecycleEvent)
    assert (odd.state, odd.previous_state) == (None, None)


def test_progress_accessors() -> None:
    nested = decode_event(
        EventType.GROUP_OPERATION_INFO, '{"Operation": "Save", "Progress": {"PercentComplete": 50}}'
    )
    assert isinstance(nested, OperationProgress)
    assert (nested.operation, nested.percent) == ("Save", 50.0)
    counted = decode_event(EventType.GROUP_OPERATION_INFO, '{"Completed": 1, "Total": 4}')
    assert isinstance(counted, OperationProgress)
    assert (counted.completed, counted.total, counted.percent) == (1.0, 4.0, 25.0)
    bare = decode_event(EventType.GROUP_OPERATION_INFO, None)
    assert isinstance(bare, OperationProgress)
    assert (bare.percent, bare.operation) == (None, None)


@pytest.mark.anyio
async def test_lifecycle_events_follow_the_state() -> None:
    async with await ComputeSystem.create("life", VM, lifecycle_events=True) as system:
        stream = system.events()
        await system.start()
        await system.pause()
        await system.resume()
        await system.terminate()
        changes = [
            (e.previous_state, e.state) async for e in stream if isinstance(e, VmLifecycleEvent)
        ]
        await system.wait()
    assert changes[:3] == [("Created", "Running"), ("Running", "Paused"), ("Paused", "Running")]
    assert changes[-1] == ("Running", "Stopped")


@pytest.mark.anyio
async def test_no_lifecycle_events_unless_asked(vm: ComputeSystem) -> None:
    stream = vm.events()
    await vm.start()
    await vm.terminate()
    events = [e async for e in stream]
    assert not [e for e in events if isinstance(e, VmLifecycleEvent)]


@pytest.mark.anyio
async def test_lifecycle_events_need_the_newer_release() -> None:
    with testing.hide_export("HcsCreateOperationWithNotifications"):
        before = testing.counts()
        with pytest.raises(UnsupportedOnThisHost):
            await ComputeSystem.create("life", VM, lifecycle_events=True)
        with pytest.raises(UnsupportedOnThisHost):
            await ComputeSystem.open("life", lifecycle_events=True)
        assert testing.counts().system_handles == before.system_handles


@pytest.mark.anyio
async def test_migration_events_reach_every_system(vm: ComputeSystem) -> None:
    # Every system's callback asks for live-migration events where the host has them.
    stream = vm.events()
    payload = {"Origin": "Destination", "Event": "SetupDone"}
    testing.raise_system_event(vm, EventType.GROUP_LIVE_MIGRATION, payload)
    with anyio.fail_after(5):
        event = await stream.__anext__()
    assert isinstance(event, LiveMigrationEvent)
    assert (event.origin, event.event) == ("Destination", "SetupDone")
    await stream.aclose()
