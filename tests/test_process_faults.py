"""Fault injection for every HCS call of the process layer (hcsim's control API).

A synchronous failure (the call returns the HRESULT) and an asynchronous one (the operation
completes with it) each give a typed error naming the operation, the system and, where there
is one, the process; afterwards hcsim has no live handle, operation, pipe or process left
(conftest.py checks that after every test).
"""

from __future__ import annotations

import anyio
import pytest
from helpers import ASYNC, KILLED, SYNC, guest, no_process_left

from aiohcs import errors, testing
from aiohcs.errors import HResult
from aiohcs.process import Process
from aiohcs.system import ComputeSystem

pytestmark = pytest.mark.anyio

MODES = pytest.mark.parametrize("mode", [SYNC, ASYNC], ids=["sync", "async"])
E_FAIL = int(HResult.E_FAIL)


def check(error: errors.HcsError, operation: str, system_id: str) -> None:
    assert error.hresult & 0xFFFFFFFF == E_FAIL
    assert error.operation == operation
    assert error.system_id == system_id


# What goes wrong while starting a process: (function(s) failing, modes, reported operation).
# The WS2022 quirk (HCS contract §8.2) is the create failing although HCS handed out a handle:
# the process information is then asked for, and if that fails too the original error counts.
# A failed registration or exit check leaves a running process that must be stopped.
START_FAULTS = [
    (("HcsCreateProcess",), SYNC, "CreateProcess"),
    (("HcsCreateProcess",), ASYNC, "CreateProcess"),
    (("HcsCreateProcess", "HcsGetProcessInfo"), SYNC, "CreateProcess"),
    (("HcsCreateProcess", "HcsGetProcessInfo"), ASYNC, "CreateProcess"),
    (("HcsSetProcessCallback",), SYNC, "SetProcessCallback"),
    (("HcsGetProcessProperties",), SYNC, "GetProcessProperties"),
    (("HcsGetProcessProperties",), ASYNC, "GetProcessProperties"),
]


@pytest.mark.parametrize(("functions", "mode", "operation"), START_FAULTS)
async def test_starting_a_process_fails(
    linux: ComputeSystem, functions: tuple[str, ...], mode: bool, operation: str
) -> None:
    for function in functions:
        testing.fail_next(function, E_FAIL, asynchronous=mode)
    with pytest.raises(errors.HcsError) as caught:
        await linux.open_process(guest("sleep 30"))
    check(caught.value, operation, linux.id)
    assert testing.counts().process_handles == 0
    # Nothing is left running, and the system is fine afterwards.
    assert (await linux.run_process(guest("echo ok"))).stdout == b"ok\n"


@pytest.mark.parametrize(
    ("function", "operation"),
    [("HcsOpenProcess", "OpenProcess"), ("HcsSetProcessCallback", "SetProcessCallback")],
)
async def test_open_process_fails(linux: ComputeSystem, function: str, operation: str) -> None:
    async with await linux.open_process(guest("sleep 30"), stdin=None, stdout=None) as proc:
        handles = testing.counts().process_handles
        testing.fail_next(function, E_FAIL)
        with pytest.raises(errors.HcsError) as caught:
            await Process.open(linux, proc.pid)
        check(caught.value, operation, linux.id)
        assert testing.counts().process_handles == handles
        assert await proc.kill() is True


@MODES
async def test_exit_check_after_open_fails(linux: ComputeSystem, mode: bool) -> None:
    """The reopened handle is closed; the process itself is left alone."""
    async with await linux.open_process(guest("sleep 30"), stdin=None, stdout=None) as proc:
        handles = testing.counts().process_handles
        testing.fail_next("HcsGetProcessProperties", E_FAIL, asynchronous=mode)
        with pytest.raises(errors.HcsError) as caught:
            await Process.open(linux, proc.pid)
        check(caught.value, "GetProcessProperties", linux.id)
        assert testing.counts().process_handles == handles
        assert not proc.exited
        assert await proc.kill() is True
        assert await proc.wait() == KILLED


@pytest.mark.parametrize(
    ("call", "function", "operation"),
    [
        ("properties", "HcsGetProcessProperties", "GetProcessProperties"),
        ("resize", "HcsModifyProcess", "ModifyProcess"),
    ],
)
@MODES
async def test_calls_on_a_process_fail(
    linux: ComputeSystem, call: str, function: str, operation: str, mode: bool
) -> None:
    async with await linux.open_process(guest("sleep 30"), console=(24, 80)) as proc:

        async def make_the_call() -> None:
            if call == "properties":
                await proc.properties()
            else:
                await proc.resize_console(30, 90)

        testing.fail_next(function, E_FAIL, asynchronous=mode)
        with pytest.raises(errors.HcsError) as caught:
            await make_the_call()
        check(caught.value, operation, linux.id)
        assert caught.value.process_id == proc.pid
        assert (await proc.properties()).exited is False  # still usable
        assert await proc.kill() is True


# ---------------------------------------------------------------- cancellation


@pytest.mark.parametrize("after", [0.0, 0.001, 0.02, 0.08, 0.13, 0.3])
async def test_cancelled_start_leaves_nothing(linux: ComputeSystem, after: float) -> None:
    """Cancel ``open_process`` at some point of a slow create: no process, no handle left."""
    await linux.run_process(guest("exit 0"))  # (the guest OS is known: no query before the create)
    testing.delay("HcsCreateProcess", completion_ms=100)
    try:
        with anyio.move_on_after(after) as scope:
            proc = await linux.open_process(guest("sleep 30"))
        if not scope.cancelled_caught:  # it was done first
            async with proc:
                assert await proc.kill() is True
    finally:
        testing.delay("HcsCreateProcess", completion_ms=0)
    if after < 0.1:  # (later, it may or may not have been done first on a loaded host)
        assert scope.cancelled_caught
    await no_process_left(timeout=5)
