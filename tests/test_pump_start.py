"""The thread pipe engine when a pump thread cannot be started (threading's RuntimeError).

Each pump starts with its stream, so such a failure is the process start's: a typed
error, the process stopped and closed, no pipe, descriptor or thread left, and the next
start works. Both backends.
"""

from __future__ import annotations

import sys
import threading

import anyio
import pytest
from helpers import (
    CAT_THEN_STAY,
    PUMPS,
    echo_and_kill,
    guest,
    no_process_left,
    open_fds,
    pump_threads,
)

from aiohcs import errors
from aiohcs.system import ComputeSystem

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        sys.platform not in ("linux", "win32"), reason="counts /proc/self/fd on POSIX"
    ),
]


@pytest.fixture
async def system(windows: ComputeSystem) -> ComputeSystem:
    """conftest's started container, warmed up before counting.

    The exit monitor, the guard and the lazy imports then exist.
    """
    await windows.run_process(guest("cat"), input=b"", pipe_engine="thread")
    return windows


def fail_pump_start(monkeypatch: pytest.MonkeyPatch, nth: int) -> list[str]:
    """Make the ``nth`` pump thread start (1-based) fail as threading does; return the log."""
    real_start = threading.Thread.start
    started: list[str] = []

    def start(self: threading.Thread) -> None:
        if self.name in PUMPS:
            started.append(self.name)
            if len(started) == nth:
                raise RuntimeError("can't start new thread")
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    return started


async def nothing_left(fds: int) -> None:
    """No process, pipe or pump thread of a failed start remains (they end asynchronously)."""
    with anyio.fail_after(10):
        await no_process_left()
        while pump_threads() or open_fds() != fds:
            await anyio.sleep(0.01)


@pytest.mark.parametrize("nth", [1, 2, 3], ids=["stdin", "stdout", "stderr"])
async def test_a_pump_that_cannot_start_fails_the_process_start(
    system: ComputeSystem, monkeypatch: pytest.MonkeyPatch, nth: int
) -> None:
    fds = open_fds()
    with monkeypatch.context() as patch:
        started = fail_pump_start(patch, nth)
        with pytest.raises(errors.ResourceExhausted) as info:
            await system.open_process(CAT_THEN_STAY, pipe_engine="thread")
    assert len(started) == nth  # (stdin's write pump, then stdout's and stderr's read pumps)
    exc = info.value
    assert exc.name == "E_OUTOFMEMORY"
    assert "can't start new thread" in str(exc)
    assert exc.operation == "CreateProcess"
    assert exc.system_id == system.id
    assert isinstance(exc.__cause__, RuntimeError)
    await nothing_left(fds)
    # full recovery
    async with await system.open_process(CAT_THEN_STAY, pipe_engine="thread") as proc:
        await echo_and_kill(proc)
    await nothing_left(fds)


async def test_run_process_reports_a_pump_that_cannot_start(
    system: ComputeSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run_process (one pump per pipe, each started with its stream): the same typed error."""
    fds = open_fds()
    with monkeypatch.context() as patch:
        fail_pump_start(patch, 2)
        with pytest.raises(errors.ResourceExhausted, match="can't start new thread"):
            await system.run_process(CAT_THEN_STAY, input=b"x", pipe_engine="thread")
    await nothing_left(fds)
    result = await system.run_process(guest("cat"), input=b"ok", pipe_engine="thread")
    assert result.stdout == b"ok"
