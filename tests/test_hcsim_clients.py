"""What the SDK sees of hcsim behaving like the real HCS for real clients (issue 14).

hcsim now delivers a terminal event to a callback registered after it (hcsshim registers
late and waits for the event alone); the SDK, which also checks for an exit it may have
missed, must still see exactly one exit. A Windows guest's process that was terminated
exits with ERROR_PROCESS_ABORTED (1067) and one a console control event ended with
STATUS_CONTROL_C_EXIT (0xC000013A); Linux guests keep 128 + signal. Every property type a
published schema or hcsshim names goes through the SDK.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from helpers import KILLED, guest

from aiohcs import testing
from aiohcs.events import EventHub, EventType, ProcessExited, SystemExited
from aiohcs.service import service_properties
from aiohcs.system import ComputeSystem

pytestmark = pytest.mark.anyio

#: What a Windows guest reports for a terminated process and for one a console control
#: event ended.
PROCESS_ABORTED = 1067
CONTROL_C_EXIT = 0xC000013A
#: Long enough for a guest process (a Python interpreter) to start and exit, or for a
#: terminate from another task, before the SDK's registration goes through.
LATE_MS = 400


@pytest.fixture
def native_exits(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every exit event the bridge hands to an event hub: (hub id, event type)."""
    seen: list[tuple[int, int]] = []
    deliver = EventHub._deliver

    def spy(self: EventHub, item: Any) -> None:
        if item.event_type in (EventType.PROCESS_EXITED, EventType.SYSTEM_EXITED):
            seen.append((self.id, int(item.event_type)))
        deliver(self, item)

    monkeypatch.setattr(EventHub, "_deliver", spy)
    return seen


async def test_late_process_registration_one_exit(
    windows: ComputeSystem, native_exits: list[tuple[int, int]]
) -> None:
    """The process exits before the callback is registered: one exit, code kept."""
    with testing.delay("HcsSetProcessCallback", sync_ms=LATE_MS):
        proc = await windows.open_process(guest("exit 3"), stdin=None, stdout=None, stderr=None)
    async with proc:
        assert await proc.wait() == 3
        terminal = proc._hub.terminal
        assert isinstance(terminal, ProcessExited)
        assert terminal.exit_code == 3
        events = [event async for event in proc.events()]
        assert events == [terminal]
        await anyio.sleep(0.2)  # anything else hcsim would deliver has arrived by now
        hub_id = proc._hub.id
    assert native_exits.count((hub_id, EventType.PROCESS_EXITED)) == 1


async def test_many_short_processes_one_exit_each(
    windows: ComputeSystem, native_exits: list[tuple[int, int]]
) -> None:
    """Without a delay the registration races the exit: either way, exactly one."""
    hubs = []
    for _ in range(10):
        async with await windows.open_process(guest("exit 0"), stdin=None, stdout=None) as proc:
            assert await proc.wait() == 0
            hubs.append(proc._hub.id)
    await anyio.sleep(0.2)
    for hub_id in hubs:
        assert native_exits.count((hub_id, EventType.PROCESS_EXITED)) == 1


async def test_late_system_registration_one_exit(
    windows: ComputeSystem, native_exits: list[tuple[int, int]]
) -> None:
    """The system exits between the open and the registration: one SystemExited."""
    opened: list[ComputeSystem] = []

    async def open_late() -> None:
        with testing.delay("HcsSetComputeSystemCallback", sync_ms=LATE_MS):
            opened.append(await ComputeSystem.open(windows.id))

    async with anyio.create_task_group() as tg:
        tg.start_soon(open_late)
        await anyio.sleep(LATE_MS / 4000)
        await windows.terminate()
    async with opened[0] as other:
        await other.wait()
        exit_event = other.exit_event
        assert isinstance(exit_event, SystemExited)
        assert [event async for event in other.events()] == [exit_event]
        await anyio.sleep(0.2)
        hub_id = other._hub.id
    assert native_exits.count((hub_id, EventType.SYSTEM_EXITED)) == 1


async def test_windows_guest_exit_codes(windows: ComputeSystem) -> None:
    """terminate and kill give 1067; a console control event 0xC000013A; own codes stay."""
    async with await windows.open_process(guest("sleep 30")) as proc:
        assert await proc.terminate() is True
        assert await proc.wait() == PROCESS_ABORTED
        assert proc.returncode == PROCESS_ABORTED
    async with await windows.open_process(guest("sleep 30")) as proc:
        assert await proc.kill() is True
        assert await proc.wait() == PROCESS_ABORTED
    for ctrl in ("CtrlC", "CtrlBreak", "CtrlShutdown"):
        async with await windows.open_process(guest("echo ready", "sleep 30")) as proc:
            # (signalled once it runs: an interrupt during the interpreter's start-up ends
            # it with exit code 1, not through the console control event)
            assert proc.stdout is not None
            said = b""
            while not said.endswith(b"\n"):
                said += await proc.stdout.receive()
            assert said.strip() == b"ready"
            assert await proc.send_signal(ctrl) is True
            assert await proc.wait() == CONTROL_C_EXIT
    async with await windows.open_process(guest("exit 137")) as proc:
        assert await proc.wait() == 137  # its own code, not a kill
    async with await windows.open_process(guest("sleep 30")) as proc:
        await windows.terminate()
        assert await proc.wait() == PROCESS_ABORTED  # ended with its system


async def test_linux_guest_exit_codes(linux: ComputeSystem) -> None:
    async with await linux.open_process(guest("sleep 30")) as proc:
        assert await proc.terminate() is True
        assert await proc.wait() == KILLED
    async with await linux.open_process(guest("sleep 30")) as proc:
        assert await proc.send_signal(15) is True
        assert await proc.wait() == 128 + 15


@pytest.mark.parametrize(
    ("property_type", "member"),
    [
        ("GuestMemory", None),
        ("ICHeartbeatStatus", "ICHeartbeatStatus"),
        ("SystemGUID", "SystemGUID"),
        ("MappedVirtualDisk", "MappedVirtualDiskControllers"),
    ],
)
async def test_older_and_hcsshim_property_types(
    linux: ComputeSystem, property_type: str, member: str | None
) -> None:
    props = await linux.properties(property_type)
    document = props.to_json()
    assert '"State":"Running"' in document
    if member is not None:
        assert f'"{member}":' in document


@pytest.mark.parametrize(
    "property_type",
    ["Memory", "CacheAllocation", "CacheMonitoring", "MemoryBwAllocation", "Undefined"],
)
async def test_older_service_property_types(property_type: str) -> None:
    result = await service_properties(property_type)
    assert result.properties == [{}]
