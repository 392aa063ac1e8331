"""Cancelling a process start or run, by every cancellation path, on both backends.

The contract: every cancellation of ``open_process`` (and the wait inside ``async with
proc``), ``run_process`` and ``stream_process`` ends within about a second of its deadline,
the host process hcsim ran for it is gone, and nothing is left open (the hcsim leak
fixture checks that). hcsim runs a guest process as a host process whose pid is the
guest pid; the commands here write their pid to a file first, so that a start whose
``Process`` never reached the caller can still be checked.

A test that would hang inside the library's shields (no deadline reaches it there) is
ended by a watchdog (:func:`unstuck_after`): it drops hcsim's service connection, which
ends every wait for an event, and the test fails instead of hanging the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from aiohcs import errors, testing
from aiohcs.system import ComputeSystem

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not testing.is_available(), reason="needs hcsim"),
]

LINUX: dict[str, Any] = {
    "SchemaVersion": {"Major": 2, "Minor": 1},
    "Owner": "aiohcs-tests",
    "VirtualMachine": {
        "Chipset": {"LinuxKernelDirect": {"KernelFilePath": "/boot/vmlinuz"}},
        "ComputeTopology": {"Memory": {"SizeInMB": 512}, "Processor": {"Count": 1}},
        "Devices": {},
    },
}
E_FAIL = 0x80004005
# How late after its deadline a cancelled call may end on a loaded 2-core machine (the
# contract is 1 s; the slack is for the machine, not for the library).
LATE = 2.5
# When the watchdog of a test that hangs steps in.
HANG_SECONDS = 20.0

# Cancellation paths: anyio scopes on both backends, asyncio's own on asyncio.
ASYNCIO_PATHS = ["move_on_after", "fail_after", "wait_for", "task.cancel"]
if sys.version_info >= (3, 11):
    ASYNCIO_PATHS.append("asyncio.timeout")
PATHS = [
    *(pytest.param("asyncio", path, id=f"asyncio-{path}") for path in ASYNCIO_PATHS),
    pytest.param("trio", "move_on_after", id="trio-move_on_after"),
    pytest.param("trio", "fail_after", id="trio-fail_after"),
]


async def cancel_after(path: str, seconds: float, call: Callable[[], Awaitable[object]]) -> float:
    """Run ``call()``, cancel it after ``seconds`` by ``path``; return the deadline.

    Fails if the call was not cancelled (it ended by itself first).
    """
    deadline = anyio.current_time() + seconds
    if path == "move_on_after":
        with anyio.move_on_after(seconds) as scope:
            await call()
        assert scope.cancelled_caught, "the call ended before its deadline"
    elif path == "fail_after":
        with pytest.raises(TimeoutError), anyio.fail_after(seconds):
            await call()
    elif path == "wait_for":

        async def coroutine() -> object:
            return await call()

        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(coroutine(), seconds)
    elif path == "asyncio.timeout":
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(seconds):  # type: ignore[attr-defined,unused-ignore]
                await call()
    else:
        assert path == "task.cancel"

        async def run() -> None:
            await call()

        task = asyncio.ensure_future(run())
        await asyncio.sleep(seconds)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    return deadline


@contextlib.contextmanager
def unstuck_after(seconds: float = HANG_SECONDS) -> Any:
    """Fail a block that hangs where no cancellation reaches (a shielded wait for an event).

    After ``seconds`` a thread drops hcsim's service connection: every wait for an event
    ends then, so the block comes back and the test fails here.
    """
    fired = threading.Event()

    def drop() -> None:
        fired.set()
        testing.disconnect_service()

    timer = threading.Timer(seconds, drop)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        timer.join()
        assert not fired.is_set(), f"hung: ended only by the watchdog after {seconds} s"


def alive(pid: int) -> bool:
    """True if the host process ``pid`` exists (hcsim reaps its processes: no zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def pids_in(path: Path) -> list[int]:
    with contextlib.suppress(FileNotFoundError):
        return [int(word) for word in path.read_text().split()]
    return []


@contextlib.contextmanager
def killing_later(path: Path) -> Any:
    """Kill what is left of the pids written to ``path`` (background children) at the end."""
    try:
        yield
    finally:
        for pid in pids_in(path):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
async def linux() -> AsyncIterator[ComputeSystem]:
    system = await ComputeSystem.create("cancel", LINUX)
    try:
        await system.start()
        await system.run_process(["true"])  # (the guest OS is known: no query at a start)
        yield system
    finally:
        with anyio.CancelScope(shield=True):
            with contextlib.suppress(errors.HcsError):
                await system.terminate()
            await system.aclose()


def starter(system: ComputeSystem, how: str, command: list[str], **options: Any) -> Any:
    """The call under test: ``open_process`` (+ the wait in ``async with``), run or stream."""

    async def call() -> object:
        if how == "open_process":
            async with await system.open_process(command, **options) as proc:
                return await proc.wait()
        if how == "run_process":
            return await system.run_process(command, check=False, **options)
        return await system.stream_process(command, lambda name, chunk: None, **options)

    return call


def running_with(marker: str) -> list[int]:
    """Host processes whose command line contains ``marker`` (Linux /proc; else none)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if marker.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
    return found


async def assert_gone(pidfile: Path, *, started: bool = True) -> None:
    """The process of ``pidfile`` is gone, and hcsim has no process left.

    Its pid is in the file once it has run its first command; before that (killed right
    after the create) its command line still names the file.
    """
    with anyio.fail_after(10):  # (an abandoned create would still complete meanwhile)
        while testing.counts().pending_operations:
            await anyio.sleep(0.01)
    pids = pids_in(pidfile)
    if started:
        assert pids, "the process never ran"
    pids += running_with(str(pidfile))
    assert [pid for pid in pids if alive(pid)] == []
    assert testing.counts().processes == 0


HOW = ["open_process", "run_process", "stream_process"]


# ---------------------------------------------------------------- item: a start that hangs


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize(("anyio_backend", "path"), PATHS)
async def test_exit_before_the_callback_then_deadline_ends_in_time(
    linux: ComputeSystem, tmp_path: Path, how: str, path: str
) -> None:
    """The process exits before its exit callback is registered; the deadline then fires.

    The exit the missed-exit check finds must be known to the kill and close that follow
    the cancellation: they used to wait, shielded, for an exit event that had already
    happened (no deadline, not even Ctrl-C, ended that).
    """
    pidfile = tmp_path / "pid"
    command = ["sh", "-c", 'echo $$ > "$0"', str(pidfile)]
    with unstuck_after(), testing.delay("HcsSetProcessCallback", sync_ms=600):
        deadline = await cancel_after(path, 0.3, starter(linux, how, command))
    late = anyio.current_time() - deadline
    assert late < LATE, f"ended {late:.2f} s after the deadline"
    await assert_gone(pidfile)


# ---------------------------------------------------------------- item: every path kills


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize(
    ("point", "function", "delay_ms", "after"),
    [
        # cancelled while HCS creates the process (its completion comes late)
        pytest.param("create", "HcsCreateProcess", 300, 0.1, id="create"),
        # cancelled during the missed-exit check right after the create
        pytest.param("exit-check", "HcsGetProcessProperties", 300, 0.1, id="exit-check"),
        # cancelled while it runs
        pytest.param("running", None, 0, 0.3, id="running"),
    ],
)
@pytest.mark.parametrize(("anyio_backend", "path"), PATHS)
async def test_every_cancellation_path_kills_the_process(
    linux: ComputeSystem,
    tmp_path: Path,
    how: str,
    point: str,
    function: str | None,
    delay_ms: int,
    after: float,
    path: str,
) -> None:
    pidfile = tmp_path / "pid"
    command = ["sh", "-c", 'echo $$ > "$0"; exec sleep 30', str(pidfile)]
    with contextlib.ExitStack() as stack:
        stack.enter_context(killing_later(pidfile))
        stack.enter_context(unstuck_after())
        if function is not None:
            stack.enter_context(testing.delay(function, completion_ms=delay_ms))
        deadline = await cancel_after(path, after, starter(linux, how, command))
        late = anyio.current_time() - deadline
        assert late < LATE, f"ended {late:.2f} s after the deadline"
        # (cancelled in the create, it may be killed before it ran anything)
        await assert_gone(pidfile, started=point == "running")


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize(("anyio_backend", "path"), PATHS)
async def test_cancelled_while_draining_does_not_wait_for_the_pipes(
    linux: ComputeSystem, tmp_path: Path, how: str, path: str
) -> None:
    """Exited, its pipes held by a background child, no drain limit: the cancel ends it."""
    pidfile = tmp_path / "pid"
    command = ["sh", "-c", 'sleep 30 & echo $$ $! > "$0"; echo started', str(pidfile)]
    with killing_later(pidfile), unstuck_after():
        call = starter(linux, how, command, drain_timeout=math.inf)
        deadline = await cancel_after(path, 0.5, call)
        late = anyio.current_time() - deadline
        assert late < LATE, f"ended {late:.2f} s after the deadline"
        shell = pids_in(pidfile)[:1]  # (the background child is not ours to end here)
        assert shell, "the process never ran"
        assert not alive(shell[0])
        assert testing.counts().processes == 0
