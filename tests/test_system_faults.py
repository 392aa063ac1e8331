"""Fault injection (every call, synchronous and asynchronous failure) and cancellation."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import (
    ASYNC,
    CONTAINER,
    MEMORY_UPDATE,
    SYNC,
    VM,
    destroy,
    settle,
    state_of,
    terminate_and_close,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiohcs import errors, testing
from aiohcs.errors import HResult
from aiohcs.service import modify_service_settings, service_properties
from aiohcs.system import ComputeSystem, enumerate_systems

ACCESS_DENIED = HResult.HCS_E_ACCESS_DENIED
CONNECT_FAILED = HResult.HCS_E_CONNECT_FAILED

Call = Callable[[ComputeSystem, Path], Awaitable[Any]]

# HCS function, operation name in errors, state the call is valid in, the call.
SYSTEM_CALLS: list[tuple[str, str, str, Call]] = [
    ("HcsStartComputeSystem", "Start", "Created", lambda s, p: s.start()),
    ("HcsPauseComputeSystem", "Pause", "Running", lambda s, p: s.pause()),
    ("HcsResumeComputeSystem", "Resume", "Paused", lambda s, p: s.resume()),
    ("HcsSaveComputeSystem", "Save", "Paused", lambda s, p: s.save(p / "f.vmrs")),
    ("HcsShutDownComputeSystem", "Shutdown", "Running", lambda s, p: s.shutdown()),
    ("HcsTerminateComputeSystem", "Terminate", "Running", lambda s, p: s.terminate()),
    ("HcsCrashComputeSystem", "Crash", "Running", lambda s, p: s.crash()),
    ("HcsModifyComputeSystem", "Modify", "Running", lambda s, p: s.modify(MEMORY_UPDATE)),
    ("HcsGetComputeSystemProperties", "GetProperties", "Running", lambda s, p: s.properties()),
]


async def bring_to(system: ComputeSystem, state: str) -> None:
    if state in ("Running", "Paused"):
        await system.start()
    if state == "Paused":
        await system.pause()


@pytest.mark.anyio
@pytest.mark.parametrize("mode", [SYNC, ASYNC], ids=["sync", "async"])
@pytest.mark.parametrize(
    ("function", "operation", "state", "call"),
    SYSTEM_CALLS,
    ids=[c[0] for c in SYSTEM_CALLS],
)
async def test_fault_in_system_call(
    function: str, operation: str, state: str, call: Call, mode: bool, tmp_path: Path
) -> None:
    system = await ComputeSystem.create("f1", VM)
    try:
        await bring_to(system, state)
        testing.fail_next(function, ACCESS_DENIED, asynchronous=mode)
        with pytest.raises(errors.AccessDenied) as info:
            await call(system, tmp_path)
        err = info.value
        assert err.hresult == ACCESS_DENIED
        assert err.operation == operation
        assert err.system_id == "f1"
        assert "f1" in str(err)
        assert operation in str(err)
        # The failed call changed nothing, and the next one works.
        assert await state_of(system) == state
        await call(system, tmp_path)
    finally:
        await terminate_and_close(system)
    await settle()
    assert testing.counts().operations == 0


@pytest.mark.anyio
@pytest.mark.parametrize("mode", [SYNC, ASYNC], ids=["sync", "async"])
@pytest.mark.parametrize("hidden", [False, True], ids=["options", "set-callback"])
async def test_fault_in_create(mode: bool, hidden: bool) -> None:
    function = "HcsCreateComputeSystem" if hidden else "HcsCreateComputeSystemInNamespace"
    shown = testing.hide_export("HcsCreateComputeSystemInNamespace") if hidden else None
    try:
        testing.fail_next(function, CONNECT_FAILED, asynchronous=mode)
        with pytest.raises(errors.HcsError) as info:
            await ComputeSystem.create("fc", VM)
        assert info.value.hresult == CONNECT_FAILED
        assert info.value.operation == "Create"
        assert info.value.system_id == "fc"
        assert testing.counts().system_handles == 0
        await destroy("fc")
        if hidden:
            testing.fail_next("HcsSetComputeSystemCallback", CONNECT_FAILED)
            with pytest.raises(errors.HcsError) as cb_info:
                await ComputeSystem.create("fc2", VM)
            assert cb_info.value.operation == "SetComputeSystemCallback"
            assert testing.counts().system_handles == 0
            await destroy("fc2")
        async with await ComputeSystem.create("fc", VM) as system:
            await system.terminate()
    finally:
        if shown is not None:
            shown.restore()


@pytest.mark.anyio
async def test_fault_in_open_and_enumerate() -> None:
    async with await ComputeSystem.create("fo", CONTAINER) as system:
        testing.fail_next("HcsOpenComputeSystem", ACCESS_DENIED)
        with pytest.raises(errors.AccessDenied) as info:
            await ComputeSystem.open("fo")
        assert info.value.operation == "Open"
        assert info.value.system_id == "fo"
        testing.fail_next("HcsSetComputeSystemCallback", CONNECT_FAILED)
        with pytest.raises(errors.HcsError) as cb:
            await ComputeSystem.open("fo")
        assert cb.value.operation == "SetComputeSystemCallback"
        for mode in (SYNC, ASYNC):
            testing.fail_next("HcsEnumerateComputeSystems", ACCESS_DENIED, asynchronous=mode)
            with pytest.raises(errors.AccessDenied) as en:
                await enumerate_systems()
            assert en.value.operation == "Enumerate"
        assert [p.id for p in await enumerate_systems()] == ["fo"]
        await system.terminate()
    assert testing.counts().system_handles == 0


@pytest.mark.anyio
async def test_service_calls_and_their_faults() -> None:
    props = await service_properties()
    versions = props.to_dict()["Properties"][0]["SupportedSchemaVersions"]
    assert {"Major": 2} in [{"Major": v["Major"]} for v in versions]
    testing.fail_next("HcsGetServiceProperties", ACCESS_DENIED)
    with pytest.raises(errors.AccessDenied) as info:
        await service_properties("Basic")
    assert info.value.operation == "GetServiceProperties"
    with pytest.raises(errors.HcsError) as bad:
        await modify_service_settings({"PropertyType": "NoSuchThing", "Settings": {}})
    assert bad.value.operation == "ModifyServiceSettings"
    testing.fail_next("HcsModifyServiceSettings", ACCESS_DENIED)
    with pytest.raises(errors.AccessDenied):
        await modify_service_settings({"PropertyType": "CpuGroup", "Settings": {}})


# ---------------------------------------------------------------- cancellation


@pytest.mark.anyio
async def test_cancelled_start_abandons_the_wait_not_the_work() -> None:
    async with await ComputeSystem.create("c", VM) as system:
        testing.delay("HcsStartComputeSystem", completion_ms=200)
        with anyio.move_on_after(0.02) as scope:
            await system.start()
        assert scope.cancelled_caught
        # Still starting in HCS; the operation is pending, not leaked.
        assert testing.counts().pending_operations == 1
        await settle()
        assert await state_of(system) == "Running"
        testing.delay("HcsPauseComputeSystem", completion_ms=200)
        with pytest.raises(TimeoutError), anyio.fail_after(0.02):
            await system.pause()
        await settle()
        assert await state_of(system) == "Paused"
        await system.terminate()


@pytest.mark.anyio
async def test_cancelled_create_closes_its_handle() -> None:
    testing.delay("HcsCreateComputeSystemInNamespace", completion_ms=200)
    with anyio.move_on_after(0.02) as scope:
        await ComputeSystem.create("cc", VM)
    assert scope.cancelled_caught
    assert testing.counts().system_handles == 0
    await settle()
    # The create went through in HCS: the system exists without a handle.
    await destroy("cc")


@pytest.mark.anyio
async def test_cancelled_wait_and_iterator_leave_the_system_usable() -> None:
    async with await ComputeSystem.create("w", VM) as system:
        await system.start()
        with anyio.move_on_after(0.02):
            await system.wait()
        stream = system.events()
        with anyio.move_on_after(0.02):
            await stream.__anext__()
        await system.terminate()
        with anyio.fail_after(5):
            events = [e async for e in stream]
            status = await system.wait()
        assert events[-1].data == status.to_dict()


# The calls the random test makes on its system (HCS function, call); "create" and "open"
# make a second system / a second handle and change nothing. RANDOM_VALID: (state, call)
# -> the state a call that went through leaves (a call not listed changes nothing).
RANDOM_CALLS: dict[str, tuple[str, Call]] = {
    "start": ("HcsStartComputeSystem", lambda s, p: s.start()),
    "pause": ("HcsPauseComputeSystem", lambda s, p: s.pause()),
    "resume": ("HcsResumeComputeSystem", lambda s, p: s.resume()),
    "save": ("HcsSaveComputeSystem", lambda s, p: s.save(p / "random.vmrs")),
    "shutdown": ("HcsShutDownComputeSystem", lambda s, p: s.shutdown()),
    "terminate": ("HcsTerminateComputeSystem", lambda s, p: s.terminate()),
    "crash": ("HcsCrashComputeSystem", lambda s, p: s.crash()),
    "modify": ("HcsModifyComputeSystem", lambda s, p: s.modify(MEMORY_UPDATE)),
    "properties": ("HcsGetComputeSystemProperties", lambda s, p: s.properties()),
}
OPS = [*RANDOM_CALLS, "create", "open"]
RANDOM_VALID = {
    ("Created", "start"): "Running",
    ("Running", "pause"): "Paused",
    ("Paused", "resume"): "Running",
    ("Paused", "save"): "Paused",
    ("Running", "shutdown"): "Stopped",
    ("Running", "crash"): "Stopped",
    ("Created", "terminate"): "Stopped",
    ("Running", "terminate"): "Stopped",
    ("Paused", "terminate"): "Stopped",
}


async def cancelled_create(delay: int, cancel_after: int) -> None:
    """A create cancelled at a random point: the system exists (state Created) or not."""
    for function in ("HcsCreateComputeSystemInNamespace", "HcsCreateComputeSystem"):
        testing.delay(function, completion_ms=delay)
    other: ComputeSystem | None = None
    with anyio.move_on_after(cancel_after / 1000), suppress(errors.HcsError):
        other = await ComputeSystem.create("hc2", VM)
    if other is not None:
        await other.aclose()
    await settle()
    assert testing.counts().system_handles == 1  # only the system under test's
    try:
        other = await ComputeSystem.open("hc2")
    except errors.SystemNotFound:
        return
    async with other:
        assert await state_of(other) == "Created"
        await other.terminate()


async def cancelled_open(delay: int, cancel_after: int) -> None:
    """An open cancelled at a random point (its synchronous part delayed): no handle left."""
    testing.delay("HcsOpenComputeSystem", sync_ms=delay)
    with anyio.move_on_after(cancel_after / 1000), suppress(errors.HcsError):
        other = await ComputeSystem.open("hc")
        await other.aclose()
    await settle()
    assert testing.counts().system_handles == 1


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    initial=st.sampled_from(["Created", "Running", "Paused"]),
    steps=st.lists(
        st.tuples(
            st.sampled_from(OPS),
            st.integers(min_value=0, max_value=30),  # delay (ms)
            st.integers(min_value=0, max_value=40),  # cancel after (ms)
        ),
        min_size=1,
        max_size=5,
    ),
)
def test_cancellation_at_random_points(
    tmp_path: Path, backend: str, initial: str, steps: list[tuple[str, int, int]]
) -> None:
    """Cancel any call at random moments: afterwards the state is the old or the new one.

    Every lifecycle call, properties, and the create/open of a (second) system; no
    operation or handle is left behind.
    """

    async def main() -> None:
        system = await ComputeSystem.create("hc", VM)
        try:
            await bring_to(system, initial)
            for op, delay, cancel_after in steps:
                before = await state_of(system)
                if op == "create":
                    await cancelled_create(delay, cancel_after)
                elif op == "open":
                    await cancelled_open(delay, cancel_after)
                else:
                    function, call = RANDOM_CALLS[op]
                    testing.delay(function, completion_ms=delay)
                    with anyio.move_on_after(cancel_after / 1000), suppress(errors.HcsError):
                        await call(system, tmp_path)
                await settle()
                after = await state_of(system)
                allowed = {before, RANDOM_VALID.get((before, op), before)}
                assert after in allowed, (op, before, after)
                testing.delay("*")
        finally:
            with anyio.CancelScope(shield=True):
                await terminate_and_close(system)
                await settle()

    testing.reset()
    anyio.run(main, backend=backend)
    leaks = {k: v for k, v in dataclasses.asdict(testing.counts()).items() if k != "systems" and v}
    assert not leaks
