"""aiohcs.testing: each control does to ComputeSystem what it says, and checks its input."""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import CONTAINER, run_child, state_of

import aiohcs
from aiohcs import _native, testing
from aiohcs._native import _releases
from aiohcs.events import EventType, ServiceDisconnectedEvent, SystemRdpEnhancedModeStateChanged
from aiohcs.service import service_properties
from aiohcs.system import ComputeSystem

START = "HcsStartComputeSystem"
PROPERTIES = "HcsGetComputeSystemProperties"
CONNECTION_TIMEOUT = aiohcs.HResult.HCS_E_CONNECTION_TIMEOUT


async def finish(system: ComputeSystem) -> None:
    """Terminate (if still alive) so that the test leaves no system."""
    if (await state_of(system)) != "Stopped":
        await system.terminate()


# ---------------------------------------------------------------- fail_next


@pytest.mark.anyio
@pytest.mark.parametrize("asynchronous", [False, True])
async def test_fail_next_makes_start_raise_the_typed_error(asynchronous: bool) -> None:
    async with await ComputeSystem.create("f1", CONTAINER) as system:
        testing.fail_next(START, aiohcs.InvalidState, asynchronous=asynchronous)
        with pytest.raises(aiohcs.InvalidState) as info:
            await system.start()
        assert info.value.hresult == aiohcs.HResult.HCS_E_INVALID_STATE
        assert info.value.operation == "Start"
        # Only the operation carries a ResultError document.
        assert (info.value.document is not None) is asynchronous
        assert await state_of(system) == "Created"
        await system.start()  # count=1: the next start works
        assert await state_of(system) == "Running"
        await system.terminate()


@pytest.mark.anyio
async def test_fail_next_count_and_clear() -> None:
    async with await ComputeSystem.create("f2", CONTAINER) as system:
        testing.fail_next(START, CONNECTION_TIMEOUT, count=3, asynchronous=True)
        for _ in range(2):
            with pytest.raises(aiohcs.HcsError) as info:
                await system.start()
            assert info.value.hresult == CONNECTION_TIMEOUT
        testing.fail_next(START, CONNECTION_TIMEOUT, count=0)  # the third one is cleared
        await system.start()
        await system.terminate()


@pytest.mark.parametrize(
    ("error", "expected", "cls"),
    [
        (aiohcs.HResult.HCS_E_SYSTEM_NOT_FOUND, 0x8037010E, aiohcs.SystemNotFound),
        (0x8037010E, 0x8037010E, aiohcs.SystemNotFound),
        (0x8037010E - (1 << 32), 0x8037010E, aiohcs.SystemNotFound),  # signed, as in C
        (aiohcs.SystemNotFound, 0x8037010E, aiohcs.SystemNotFound),
        (aiohcs.AccessDenied, aiohcs.HResult.HCS_E_ACCESS_DENIED, aiohcs.AccessDenied),
        (aiohcs.ServiceDisconnected, 0x8037011E, aiohcs.ServiceDisconnected),
        (aiohcs.UnsupportedOnThisHost, 0x8007007F, aiohcs.UnsupportedOnThisHost),
        (aiohcs.ProcessNotFound, 0x80070490, aiohcs.ProcessNotFound),
        (aiohcs.HcsError, aiohcs.HResult.E_FAIL, aiohcs.HcsError),
        (aiohcs.InvalidJson(0x8037010D), 0x8037010D, aiohcs.InvalidJson),
    ],
)
def test_every_error_form_gives_that_hresult(error: Any, expected: int, cls: type) -> None:
    async def main() -> None:
        async with await ComputeSystem.create("forms", CONTAINER) as system:
            testing.fail_next(START, error)
            with pytest.raises(aiohcs.HcsError) as info:
                await system.start()
            assert info.value.hresult == expected
            assert type(info.value) is cls
            await system.terminate()

    anyio.run(main)


@pytest.mark.anyio
async def test_fail_next_star_fails_every_service_call() -> None:
    testing.fail_next("*", aiohcs.AccessDenied, count=2)
    with pytest.raises(aiohcs.AccessDenied):
        await ComputeSystem.create("s1", CONTAINER)
    with pytest.raises(aiohcs.AccessDenied):
        await service_properties()
    await service_properties()


# ---------------------------------------------------------------- delay


@pytest.mark.anyio
async def test_delay_makes_fail_after_time_out_and_the_start_still_completes() -> None:
    async with await ComputeSystem.create("slow", CONTAINER) as system:
        testing.delay(START, completion_ms=500)
        with pytest.raises(TimeoutError), anyio.fail_after(0.1):
            await system.start()
        # The start was abandoned, not undone: it completes in hcsim.
        with anyio.fail_after(5):
            while await state_of(system) != "Running":
                await anyio.sleep(0.02)
        await system.terminate()


# Margins wide enough for a loaded CI machine: a plain call takes about a millisecond.
SLOW_MS = 500
SLOW, FAST = 0.49, 0.35


async def timed(call: Callable[[], Any]) -> float:
    began = time.monotonic()
    await call()
    return time.monotonic() - began


@pytest.mark.anyio
async def test_delay_as_context_manager_restores_the_previous_delay() -> None:
    async with await ComputeSystem.create("ctx", CONTAINER) as system:
        assert await timed(system.properties) < FAST
        testing.delay(PROPERTIES, completion_ms=SLOW_MS)
        assert await timed(system.properties) >= SLOW
        with testing.delay(PROPERTIES) as override:  # 0, 0: no delay inside
            assert await timed(system.properties) < FAST
        assert "restored" in repr(override)
        assert await timed(system.properties) >= SLOW  # the slow delay is back
        override.restore()  # idempotent: does not undo anything again
        assert await timed(system.properties) >= SLOW
        with testing.delay(PROPERTIES, completion_ms=0, sync_ms=0):
            pass
        testing.reset()
        assert await timed(system.properties) < FAST


@pytest.mark.anyio
async def test_a_reset_inside_the_block_wins_over_the_restore() -> None:
    async with await ComputeSystem.create("rst", CONTAINER) as system:
        testing.delay(PROPERTIES, completion_ms=SLOW_MS)
        with testing.delay(PROPERTIES, completion_ms=1):
            testing.reset()  # ends the system and clears every delay
        assert await timed(system.properties) < FAST  # the slow delay did not come back
        with testing.hide_export("HcsWaitForProcessExit"):
            testing.reset()
            with testing.hide_export("HcsWaitForProcessExit"):
                pass
        assert _native.export_available("HcsWaitForProcessExit")


@pytest.mark.anyio
async def test_delay_sync_ms_blocks_the_call_itself() -> None:
    with testing.delay(PROPERTIES, sync_ms=150):
        async with await ComputeSystem.create("sync", CONTAINER) as system:
            began = time.monotonic()
            await system.properties()
            assert time.monotonic() - began >= 0.14
            await system.terminate()


# ---------------------------------------------------------------- hide_export


def test_hide_export_context_manager_and_previous_state() -> None:
    name = "HcsWaitForProcessExit"
    assert _native.export_available(name)
    with testing.hide_export(name):
        assert not _native.export_available(name)
        with testing.hide_export(name):
            assert not _native.export_available(name)
        assert not _native.export_available(name)  # hidden before the inner block
    assert _native.export_available(name)
    with testing.hide_export("*"):
        assert not any(_native.export_available(n) for n in testing.function_names())
    assert all(_native.export_available(n) for n in testing.function_names())


@pytest.mark.anyio
async def test_a_hidden_export_raises_unsupported_on_this_host() -> None:
    with testing.hide_export("HcsCreateComputeSystemInNamespace"):
        with pytest.raises(aiohcs.UnsupportedOnThisHost) as info:
            await ComputeSystem.create("ns1", CONTAINER, namespace="other")
        assert info.value.export == "HcsCreateComputeSystemInNamespace"
    async with await ComputeSystem.create("ns1", CONTAINER, namespace="other") as system:
        assert system.namespace == "other"
        await system.terminate()


# ---------------------------------------------------------------- systems and the service


@pytest.mark.anyio
@pytest.mark.parametrize("by", ["object", "id"])
async def test_crash_system(by: str) -> None:
    async with await ComputeSystem.create("victim", CONTAINER, namespace="ns") as system:
        await system.start()
        if by == "object":
            testing.crash_system(system)
        else:
            testing.crash_system("victim", namespace="ns")
        status = await system.wait()
        assert status.exit_type == "UnexpectedExit"
        assert status.attribution is not None
        assert status.attribution[0].worker_exit is not None
    with pytest.raises(aiohcs.SystemNotFound, match="victim"):
        testing.crash_system("victim", namespace="ns")


@pytest.mark.anyio
async def test_guest_shutdown() -> None:
    async with await ComputeSystem.create("guest", CONTAINER) as system:
        with pytest.raises(aiohcs.InvalidState):  # only from Running
            testing.guest_shutdown(system)
        await system.start()
        testing.guest_shutdown(system)
        status = await system.wait()
        assert status.exit_type == "GracefulExit"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "payload", [{"EnhancedModeState": True}, '{"EnhancedModeState": true}', None]
)
async def test_raise_system_event_is_delivered(payload: Any) -> None:
    async with await ComputeSystem.create("ev", CONTAINER) as system:
        await system.start()
        events = system.events()
        testing.raise_system_event(
            system, EventType.SYSTEM_RDP_ENHANCED_MODE_STATE_CHANGED, payload
        )
        with anyio.fail_after(5):
            event = await events.__anext__()
        assert isinstance(event, SystemRdpEnhancedModeStateChanged)
        assert event.data == (None if payload is None else {"EnhancedModeState": True})
        assert await state_of(system) == "Running"  # the state does not change
        await system.terminate()
        await events.aclose()


@pytest.mark.anyio
async def test_disconnect_service_ends_waits_and_fails_later_calls() -> None:
    async with await ComputeSystem.create("dc", CONTAINER) as system:
        events = system.events()
        testing.disconnect_service()
        with anyio.fail_after(5):
            event = await events.__anext__()
        assert isinstance(event, ServiceDisconnectedEvent)
        with pytest.raises(aiohcs.ServiceDisconnected):
            await system.start()
        await events.aclose()
    testing.reset()  # the system is gone with the reset; later calls work again
    await service_properties()


@pytest.mark.anyio
async def test_set_option_changes_what_hcsim_reports() -> None:
    testing.set_option("SchemaMinorVersion", 3)
    basic = (await service_properties()).to_dict()["Properties"][0]
    assert basic["SupportedSchemaVersions"] == [{"Major": 2, "Minor": 3}]
    testing.reset()
    basic = (await service_properties()).to_dict()["Properties"][0]
    assert basic["SupportedSchemaVersions"] == [{"Major": 2, "Minor": 6}]


# ---------------------------------------------------------------- counts, reset and leaks


@pytest.mark.anyio
async def test_counts_follow_live_objects_and_reset_clears_them() -> None:
    assert testing.counts() == testing.Counts(0, 0, 0, 0, 0, 0, 0, 0)
    system = await ComputeSystem.create("cnt", CONTAINER)
    now = testing.counts()
    assert (now.systems, now.system_handles) == (1, 1)
    assert now.leaks() == {"systems": 1, "system_handles": 1}
    assert now.leaks(allow_systems=True) == {"system_handles": 1}
    with pytest.raises(AttributeError):
        now.systems = 0  # type: ignore[misc]
    testing.reset()
    assert testing.counts().systems == 0
    await system.aclose()


def test_counts_has_every_hcsim_counter() -> None:
    c_fields = [name for name, _ in _native.ffi.typeof("HCSIM_COUNTS").fields]
    snake = [re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() for name in c_fields]
    assert [f.name for f in testing.Counts.__dataclass_fields__.values()] == snake
    assert set(testing.LEAK_COUNTERS) == set(snake) - {"systems", "pending_operations"}


def test_assert_no_leaks_waits_for_clean_up_to_settle() -> None:
    operation = _native.lib.HcsCreateOperation(_native.NULL, _native.NULL)
    closer = threading.Timer(0.3, _native.lib.HcsCloseOperation, (operation,))
    began = time.monotonic()
    closer.start()
    try:
        result = testing.assert_no_leaks(settle=5)
    finally:
        closer.join()
    assert 0.25 <= time.monotonic() - began < 4
    assert result.operations == 0


def test_assert_no_leaks_reports_what_is_left() -> None:
    operation = _native.lib.HcsCreateOperation(_native.NULL, _native.NULL)
    try:
        began = time.monotonic()
        with pytest.raises(testing.LeakError, match=r"\{'operations': 1\}") as info:
            testing.assert_no_leaks(settle=0.2)
        assert time.monotonic() - began >= 0.2
        assert isinstance(info.value, AssertionError)
        assert info.value.leaks == {"operations": 1}
        assert info.value.counts.operations == 1
    finally:
        _native.lib.HcsCloseOperation(operation)
    assert testing.assert_no_leaks(settle=0).operations == 0


@pytest.mark.anyio
async def test_assert_no_leaks_allow_systems_and_async_variant() -> None:
    system = await ComputeSystem.create("left", CONTAINER)
    with pytest.raises(RuntimeError, match="assert_no_leaks_async"):
        testing.assert_no_leaks(settle=0)  # would block the event loop
    with pytest.raises(testing.LeakError) as info:
        await testing.assert_no_leaks_async(settle=0.05)
    assert info.value.leaks == {"system_handles": 1, "systems": 1}
    await system.aclose()  # closing the handle does not end the system
    counts = await testing.assert_no_leaks_async(allow_systems=True, settle=1)
    assert counts.systems == 1
    with pytest.raises(testing.LeakError, match="systems"):
        await testing.assert_no_leaks_async(settle=0)
    testing.reset()


# ---------------------------------------------------------------- validation before C


def test_function_names_are_the_declared_exports() -> None:
    names = testing.function_names()
    assert len(names) == 80 + 43  # (+ computenetwork's)
    assert {"HcsStartComputeSystem", "HcsImportLayer", "HcsCloseOperation"} <= names
    assert {"HcnCreateNetwork", "HcnQueryEndpointStats", "HcnCloseEndpoint"} <= names
    assert {"CreateVirtualDisk", "OpenVirtualDisk", "AttachVirtualDisk"} <= names
    assert {"HcnCreateNetwork", "HcnReserveGuestNetworkServicePortRange"} <= names
    # On Windows an export no SDK header declares (HcsCancelLiveMigration) is looked up by
    # name at run time, never linked; hcsim's POSIX build defines it in the module.
    by_name = _releases.UNDECLARED_EXPORTS if sys.platform == "win32" else frozenset()
    assert {n for n in names if not hasattr(_native.lib, n)} == by_name
    assert all(_native.export_available(n) for n in by_name)
    faultable = testing.faultable_functions()
    assert names - faultable == {
        "HcsCreateOperation",
        "HcsCreateOperationWithNotifications",
        "HcsCloseOperation",
        "HcsGetOperationContext",
        "HcsGetComputeSystemFromOperation",
        "HcsGetProcessFromOperation",
        "HcsGetOperationType",
        "HcsGetOperationId",
        "HcsCloseComputeSystem",
        "HcsCloseProcess",
        "HcnFreeGuestNetworkPortReservations",  # (VOID)
    }


def test_unknown_function_lists_the_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown HCS function 'HcsStartComputeSytem'") as info:
        testing.fail_next("HcsStartComputeSytem", aiohcs.HcsError)
    text = str(info.value)
    assert "did you mean 'HcsStartComputeSystem'?" in text
    assert all(name in text for name in testing.faultable_functions())
    with pytest.raises(ValueError, match="does not return an HRESULT"):
        testing.fail_next("HcsCloseOperation", aiohcs.HcsError)
    with pytest.raises(ValueError, match="HcsCloseOperation"):
        testing.delay("HcsNothing")  # delay also takes the non-HRESULT exports
    testing.delay("HcsCloseOperation", sync_ms=0)
    with pytest.raises(ValueError, match="unknown HCS function"):
        testing.hide_export("LocalFree")


BAD_CALLS: list[tuple[type[Exception], Callable[[], Any]]] = [
    (TypeError, lambda: testing.fail_next(b"HcsStartComputeSystem", 0x80004005)),  # type: ignore[arg-type]
    (TypeError, lambda: testing.fail_next(START, "E_FAIL")),  # type: ignore[arg-type]
    (TypeError, lambda: testing.fail_next(START, 1.5)),  # type: ignore[arg-type]
    (TypeError, lambda: testing.fail_next(START, True)),
    (TypeError, lambda: testing.fail_next(START, ValueError)),  # type: ignore[arg-type]
    (TypeError, lambda: testing.fail_next(START, 0x80004005, count="2")),  # type: ignore[arg-type]
    (TypeError, lambda: testing.fail_next(START, 0x80004005, count=True)),
    (TypeError, lambda: testing.fail_next(START, 0x80004005, asynchronous=1)),  # type: ignore[arg-type]
    (ValueError, lambda: testing.fail_next(START, 0)),  # success is not a fault
    (ValueError, lambda: testing.fail_next(START, 1 << 32)),
    (ValueError, lambda: testing.fail_next(START, 0x80004005, count=-1)),
    (ValueError, lambda: testing.fail_next(START, 0x80004005, count=1 << 32)),
    (ValueError, lambda: testing.fail_next(START, aiohcs.HandleClosedError)),
    (TypeError, lambda: testing.delay(START, completion_ms=1.5)),  # type: ignore[arg-type]
    (ValueError, lambda: testing.delay(START, sync_ms=-1)),
    (TypeError, lambda: testing.delay(None)),  # type: ignore[arg-type]
    (TypeError, lambda: testing.hide_export(3)),  # type: ignore[arg-type]
    (TypeError, lambda: testing.crash_system(3)),  # type: ignore[arg-type]
    (TypeError, lambda: testing.crash_system("x", namespace=b"ns")),  # type: ignore[arg-type]
    (TypeError, lambda: testing.guest_shutdown(None)),  # type: ignore[arg-type]
    (TypeError, lambda: testing.raise_system_event("x", 1, [1])),  # type: ignore[arg-type]
    (TypeError, lambda: testing.raise_system_event("x", "1")),  # type: ignore[arg-type]
    (ValueError, lambda: testing.raise_system_event("x", -1)),
    (TypeError, lambda: testing.set_option(1, 1)),  # type: ignore[arg-type]
    (ValueError, lambda: testing.set_option("Workers", 1)),  # type: ignore[arg-type]
    (ValueError, lambda: testing.set_option("WorkerThreads", 0)),
    (TypeError, lambda: testing.set_option("RejectSecondCallback", True)),
    (TypeError, lambda: testing.assert_no_leaks(settle="1")),  # type: ignore[arg-type]
    (ValueError, lambda: testing.assert_no_leaks(settle=-1)),
    (ValueError, lambda: testing.assert_no_leaks(settle=float("nan"))),
]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("system", "namespace", "message"),
    [
        ("", None, "system id must not be empty"),
        ("a\0b", None, "system id contains a NUL character at index 1"),
        ("x", "", "namespace must not be empty (None is the default namespace)"),
        ("x", 5, "namespace must be a str or None, not int"),
        ("x", "n\0", "namespace contains a NUL character at index 1"),
    ],
)
async def test_system_ids_are_checked_as_the_api_checks_them(
    system: str, namespace: Any, message: str
) -> None:
    """The controls and ComputeSystem share one checker: the same error, the same words."""
    with pytest.raises(aiohcs.InvalidArgumentError) as from_testing:
        testing.crash_system(system, namespace=namespace)
    assert str(from_testing.value).startswith(message)
    with pytest.raises(type(from_testing.value)) as from_api:
        await ComputeSystem.open(system, namespace=namespace)
    assert str(from_api.value) == str(from_testing.value).replace("system id", "id")


@pytest.mark.parametrize(("expected", "call"), BAD_CALLS)
def test_bad_arguments_are_rejected_before_c(
    expected: type[Exception], call: Callable[[], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Were the call to reach hcsim, it would raise HcsimNotLoadedError instead.
    monkeypatch.setattr(_native, "IS_EMULATOR", False)
    with pytest.raises(expected):
        call()


def test_a_string_with_nul_is_rejected() -> None:
    with pytest.raises(aiohcs.InvalidArgumentError):
        testing.crash_system("a\0b")


def _set_option_in_c(name: str, value: int) -> int:
    """HcsimSetOption called directly (no Python range check), as an unsigned HRESULT."""
    return int(_native.hcsim.HcsimSetOption(name.encode("ascii"), value)) & 0xFFFFFFFF


@pytest.mark.parametrize("name", sorted(testing.OPTIONS))
def test_option_range_is_enforced_by_hcsim_too(name: str) -> None:
    low, high = testing.OPTIONS[name]
    try:
        # Just outside the range (and far outside it): refused by hcsim itself.
        for value in (low - 1, high + 1, -(2**63), 2**63 - 1):
            assert _set_option_in_c(name, value) == aiohcs.HResult.E_INVALIDARG, value
        # The bounds themselves are accepted (WorkerThreads: hcsim was reset, no pool yet).
        assert _set_option_in_c(name, low) == 0
        assert _set_option_in_c(name, high) == 0
    finally:
        testing.reset()


def test_hcsim_refuses_an_unknown_option() -> None:
    assert _set_option_in_c("NoSuchOption", 1) == aiohcs.HResult.E_INVALIDARG


# ---------------------------------------------------------------- without hcsim


CALLS_WITHOUT_HCSIM: list[Callable[[], Any]] = [
    lambda: testing.fail_next(START, aiohcs.HcsError),
    lambda: testing.delay(START, completion_ms=1),
    lambda: testing.hide_export(START),
    lambda: testing.crash_system("x"),
    lambda: testing.guest_shutdown("x"),
    lambda: testing.raise_system_event("x", 1),
    testing.disconnect_service,
    lambda: testing.set_option("WorkerThreads", 4),
    testing.counts,
    testing.reset,
    testing.assert_no_leaks,
]


@pytest.mark.parametrize("call", CALLS_WITHOUT_HCSIM)
def test_every_control_raises_without_hcsim(
    call: Callable[[], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_native, "IS_EMULATOR", False)
    assert not testing.is_available()
    with pytest.raises(testing.HcsimNotLoadedError, match="hcsim is not loaded"):
        call()


def test_import_works_without_the_binding(tmp_path: Path) -> None:
    program = (
        "import sys\n"
        "sys.modules['aiohcs._native'] = None  # the import fails, as without the DLL\n"
        "import asyncio, aiohcs.testing as t\n"
        "assert not t.is_available()\n"
        "for call in (t.reset, t.counts, lambda: t.fail_next('HcsStartComputeSystem', 1 << 31),\n"
        "             lambda: asyncio.run(t.assert_no_leaks_async())):\n"
        "    try:\n"
        "        call()\n"
        "    except t.HcsimNotLoadedError as exc:\n"
        "        print(exc)\n"
    )
    result = run_child("-c", program, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    assert all(line.startswith("hcsim is not loaded") for line in lines)


def test_the_control_object_has_every_function() -> None:
    control = testing.HcsimControl()
    functions = [n for n in testing.__all__ if n[0].islower() and callable(getattr(testing, n))]
    assert len(functions) == 19
    for name in functions:
        assert getattr(control, name) is getattr(testing, name), name
    assert repr(control) == "<HcsimControl>"


def test_a_baseline_excludes_what_was_alive_before() -> None:
    lib, null = _native.lib, _native.NULL
    first = lib.HcsCreateOperation(null, null)
    try:
        before = testing.counts()
        assert testing.assert_no_leaks(settle=0, baseline=before).operations == 1
        second = lib.HcsCreateOperation(null, null)
        with pytest.raises(testing.LeakError) as info:
            testing.assert_no_leaks(settle=0, baseline=before)
        assert info.value.leaks == {"operations": 1}
        lib.HcsCloseOperation(second)
        assert testing.counts().leaks(baseline=before) == {}
    finally:
        lib.HcsCloseOperation(first)
    assert testing.counts().leaks(baseline=before) == {}  # below the baseline is fine
