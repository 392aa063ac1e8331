"""Clean-up calls reach HCS even when asyncio's own cancellation arrives while they wait.

Every HCS call first waits for its turn (``LoopBridge.admit``). asyncio's ``task.cancel()``
(``asyncio.timeout``, ``wait_for``) reaches through anyio's shields, so a clean-up call that
is cancelled while it waits for admission would never be made: a process or system given up
would be left running. Here admission is held shut (a budget of 0 per turn) while such a
clean-up waits, the task is cancelled natively, then admission reopens: the terminate, kill
or close must have been made all the same (hcsim's counters and the leak check tell).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from helpers import LINUX

from aiohcs import _bridge, errors, process, testing
from aiohcs._bridge import current_bridge
from aiohcs._native import ffi, lib
from aiohcs.process import PIPE
from aiohcs.system import ComputeSystem

pytestmark = [
    pytest.mark.skipif(not testing.is_available(), reason="needs hcsim"),
    pytest.mark.anyio,
]
#: asyncio's own cancellation is what reaches through anyio's shields.
asyncio_only = pytest.mark.parametrize("anyio_backend", ["asyncio"])

SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]


class _Gate:
    """Admission held shut (no call begins) from :meth:`close` until :meth:`open`."""

    def __init__(self) -> None:
        self.patch = pytest.MonkeyPatch()  # (its own: opening undoes nothing else)

    def close(self) -> None:
        self.patch.setattr(_bridge._admission, "_ADMIT_BUDGET", 0)
        current_bridge().admission.left = 0

    def open(self) -> None:
        self.patch.undo()  # (the refill rescheduled every turn admits them now)


@pytest.fixture
def gate() -> Iterator[_Gate]:
    shut = _Gate()
    yield shut
    shut.open()


@pytest.fixture
def failing_restore(gate: _Gate, monkeypatch: pytest.MonkeyPatch) -> None:
    """The next restore's start fails; admission is shut as its clean-up begins."""
    start = ComputeSystem.start

    async def start_then_shut(self: ComputeSystem, options: Any = None) -> None:
        try:
            await start(self, options)
        finally:
            gate.close()  # the terminate of the failed restore waits for its turn

    monkeypatch.setattr(ComputeSystem, "start", start_then_shut)
    testing.fail_next("HcsStartComputeSystem", errors.AccessDenied, asynchronous=True)


async def _cancel_while_admission_waits(task: asyncio.Task[Any], gate: _Gate) -> None:
    """Wait until something waits for admission, cancel ``task`` (twice), reopen the gate."""
    bridge = current_bridge()
    for _ in range(2000):
        if bridge.admission.waiting:
            break
        assert not task.done(), task
        await asyncio.sleep(0.005)
    assert bridge.admission.waiting, "nothing waited for admission"
    task.cancel()
    await asyncio.sleep(0)
    task.cancel()
    for _ in range(5):  # the cancellations are delivered while admission is still shut
        await asyncio.sleep(0)
    gate.open()
    with pytest.raises(asyncio.CancelledError):
        await task


async def _settled(**zero: int) -> dict[str, int]:
    """hcsim's counters named in ``zero`` once they reach their value (or after ~10 s)."""
    seen: dict[str, int] = {}
    for _ in range(1000):
        counts = testing.counts()
        seen = {name: getattr(counts, name) for name in zero}
        if seen == zero:
            break
        await anyio.sleep(0.01)
    return seen


@asyncio_only
async def test_a_failed_async_with_kills_the_process_though_cancelled_at_admission(
    linux: ComputeSystem, gate: _Gate
) -> None:
    proc = await linux.open_process(SLEEP)

    async def failed_block() -> None:
        gate.close()
        await proc.__aexit__(RuntimeError, RuntimeError("boom"), None)

    task = asyncio.ensure_future(failed_block())
    await _cancel_while_admission_waits(task, gate)
    assert await _settled(processes=0, process_handles=0) == {"processes": 0, "process_handles": 0}
    assert proc.closed


@asyncio_only
async def test_a_cancelled_close_kills_and_reaps_though_cancelled_at_admission(
    linux: ComputeSystem, gate: _Gate
) -> None:
    proc = await linux.open_process(SLEEP, stdin=PIPE)

    async def close_then_cancel() -> None:
        # aclose waits for the exit; the first cancel turns it into a kill-and-reap, whose
        # terminate then waits for admission when the second one comes.
        gate.close()
        await proc.aclose()

    task = asyncio.ensure_future(close_then_cancel())
    await _cancel_while_admission_waits(task, gate)
    assert await _settled(processes=0, process_handles=0, pipe_handles=0) == {
        "processes": 0,
        "process_handles": 0,
        "pipe_handles": 0,
    }


@asyncio_only
async def test_unwatched_process_is_terminated_though_cancelled_at_admission(
    linux: ComputeSystem, gate: _Gate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A created process whose information is lost is terminated (``_terminate_unwatched``)."""
    recover = process._recover_process_info

    async def failing_then_shut(handle: Any, system_id: str, error: Exception) -> Any:
        gate.close()  # the terminate of the unwatched process waits for its turn
        return await recover(handle, system_id, error)

    monkeypatch.setattr(process, "_recover_process_info", failing_then_shut)
    testing.fail_next("HcsCreateProcess", errors.AccessDenied, asynchronous=True)
    testing.fail_next("HcsGetProcessInfo", errors.AccessDenied, asynchronous=True)
    task = asyncio.ensure_future(linux.open_process(SLEEP))
    await _cancel_while_admission_waits(task, gate)
    assert await _settled(processes=0, process_handles=0) == {"processes": 0, "process_handles": 0}


@asyncio_only
async def test_stdin_close_reaches_hcs_though_cancelled_at_admission(
    linux: ComputeSystem, gate: _Gate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing stdin also closes HCS's copy (ModifyProcess CloseHandle StdIn), cancel or not."""
    requests: list[str] = []

    class Recording:
        def __getattr__(self, name: str) -> Any:
            function = getattr(lib, name)
            if name != "HcsModifyProcess":
                return function

            def modify(handle: Any, op: Any, settings: Any) -> int:
                requests.append(ffi.string(settings))
                result: int = function(handle, op, settings)
                return result

            return modify

    monkeypatch.setattr(process, "lib", Recording())
    async with await linux.open_process(SLEEP, stdin=PIPE) as proc:
        assert proc.stdin is not None
        stdin = proc.stdin

        async def close_stdin() -> None:
            gate.close()
            await stdin.aclose()

        task = asyncio.ensure_future(close_stdin())
        await _cancel_while_admission_waits(task, gate)
        assert [r for r in requests if "StdIn" in r], requests
        await proc.kill()


@asyncio_only
async def test_a_failed_restore_terminates_the_system_though_cancelled_at_admission(
    tmp_path: Path, gate: _Gate, failing_restore: None
) -> None:
    state = tmp_path / "saved.vmrs"
    task = asyncio.ensure_future(ComputeSystem.restore("restored", LINUX, state))
    await _cancel_while_admission_waits(task, gate)
    assert await _settled(systems=0, system_handles=0) == {"systems": 0, "system_handles": 0}


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_a_failed_restore_cancelled_by_a_scope_at_admission_terminates_the_system(
    tmp_path: Path, gate: _Gate, failing_restore: None
) -> None:
    """anyio/trio cancellation: the shield holds; the terminate is made, the error goes on."""
    scope = anyio.CancelScope()

    async def cancel_at_admission() -> None:  # (outside the scope it cancels)
        while not current_bridge().admission.waiting:
            await anyio.sleep(0.005)
        scope.cancel()
        for _ in range(5):  # (delivered while admission is still shut)
            await anyio.lowlevel.checkpoint()
        gate.open()

    async with anyio.create_task_group() as tg:
        tg.start_soon(cancel_at_admission)
        with scope, pytest.raises(errors.AccessDenied):  # (the start's error goes on)
            await ComputeSystem.restore("restored", LINUX, tmp_path / "saved.vmrs")
    assert scope.cancel_called
    assert await _settled(systems=0, system_handles=0) == {"systems": 0, "system_handles": 0}
