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
import re
import sys
import threading
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import guest, host_alive, kill_host, no_hcs_call
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiohcs import errors, testing
from aiohcs._pipes import ENGINES
from aiohcs.process import PipesNotClosed, ProcessFailed
from aiohcs.system import ComputeSystem

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not testing.is_available(), reason="needs hcsim"),
]

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
            kill_host(pid)


@pytest.fixture
async def linux(linux: ComputeSystem) -> ComputeSystem:
    """conftest's started Linux VM, its guest OS known (no query at a start under test)."""
    await linux.run_process(guest("exit 0"))
    return linux


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
    # (Not Path.glob: on 3.11 it stats each entry, and a process exiting meanwhile makes
    # that raise ProcessLookupError.)
    try:
        pids = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        pids = []
    for pid in pids:
        with contextlib.suppress(OSError):
            if marker.encode() in Path("/proc", pid, "cmdline").read_bytes():
                found.append(int(pid))
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
    assert [pid for pid in pids if host_alive(pid)] == []
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
    command = guest(f"pid {pidfile}")
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
    command = guest(f"pid {pidfile}", "sleep 30")
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
    command = guest("spawn sleep 30", f"pid {pidfile}", "echo started")
    with killing_later(pidfile), unstuck_after():
        call = starter(linux, how, command, drain_timeout=math.inf)
        deadline = await cancel_after(path, 0.5, call)
        late = anyio.current_time() - deadline
        assert late < LATE, f"ended {late:.2f} s after the deadline"
        shell = pids_in(pidfile)[:1]  # (the background child is not ours to end here)
        assert shell, "the process never ran"
        assert not host_alive(shell[0])
        assert testing.counts().processes == 0


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    pick=st.integers(0, 99),
    how=st.sampled_from(HOW),
    after=st.floats(0, 0.25),
    create_ms=st.sampled_from([0, 50, 150]),
    check_ms=st.sampled_from([0, 50, 150]),
)
async def test_cancelled_at_any_point_ends_soon_and_leaves_nothing(
    linux: ComputeSystem,
    tmp_path: Path,
    anyio_backend: str,
    pick: int,
    how: str,
    after: float,
    create_ms: int,
    check_ms: int,
) -> None:
    """Any path, any function, any moment, with or without slow HCS calls: the contract."""
    paths = ASYNCIO_PATHS if anyio_backend == "asyncio" else ["move_on_after", "fail_after"]
    path = paths[pick % len(paths)]
    slow = {"HcsCreateProcess": create_ms, "HcsGetProcessProperties": check_ms}
    pidfile = tmp_path / f"pid-{len(list(tmp_path.iterdir()))}"
    command = guest(f"pid {pidfile}", "sleep 30")
    with contextlib.ExitStack() as stack:
        stack.enter_context(killing_later(pidfile))
        stack.enter_context(unstuck_after())
        for function, ms in slow.items():
            if ms:
                stack.enter_context(testing.delay(function, completion_ms=ms))
        deadline = await cancel_after(path, after, starter(linux, how, command))
        late = anyio.current_time() - deadline
        assert late < LATE, f"ended {late:.2f} s after the deadline"
        await assert_gone(pidfile, started=False)
    assert testing.counts().process_handles == 0
    assert testing.counts().pipe_handles == 0


# ---------------------------------------------------------------- item: drain_timeout


@pytest.mark.parametrize("engine", ENGINES)
async def test_run_process_honours_drain_timeout(linux: ComputeSystem, engine: str) -> None:
    command = guest("spawn sleep 30", "spawn-pid", "err err", "exit 3")
    start = anyio.current_time()
    with pytest.warns(PipesNotClosed, match="stdout and stderr stayed open for 0.5 s"):
        with anyio.fail_after(10):
            done = await linux.run_process(
                command, check=False, drain_timeout=0.5, pipe_engine=engine
            )
    kill_host(int(done.stdout))
    assert anyio.current_time() - start < 0.5 + LATE
    assert done.returncode == 3
    assert done.stderr == b"err\n"  # what was read is returned
    # check=True: ProcessFailed carries the output read so far, too
    with pytest.warns(PipesNotClosed), anyio.fail_after(10), pytest.raises(ProcessFailed) as caught:
        await linux.run_process(command, drain_timeout=0.5, pipe_engine=engine)
    kill_host(int(caught.value.stdout))
    assert caught.value.stderr == b"err\n"


@pytest.mark.parametrize("engine", ENGINES)
async def test_stream_process_honours_drain_timeout(linux: ComputeSystem, engine: str) -> None:
    chunks: list[tuple[str, bytes]] = []
    command = guest("spawn sleep 30", "spawn-pid")
    start = anyio.current_time()
    with pytest.warns(PipesNotClosed, match="stdout and stderr stayed open for 0.2 s"):
        with anyio.fail_after(10):
            code = await linux.stream_process(
                command,
                lambda name, chunk: chunks.append((name, chunk)),
                drain_timeout=0.2,
                pipe_engine=engine,
            )
    assert chunks, "the output written before the exit was not streamed"
    kill_host(int(b"".join(chunk for _, chunk in chunks)))
    assert anyio.current_time() - start < LATE
    assert code == 0
    assert {name for name, _ in chunks} == {"stdout"}


async def test_run_process_waits_for_output_written_after_the_exit_within_the_limit(
    linux: ComputeSystem,
) -> None:
    """Inside the grace period a background child's late output still arrives."""
    command = guest("spawn sleep 0.3; echo late", "echo early")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PipesNotClosed)
        done = await linux.run_process(command, drain_timeout=20)
    assert done.stdout == b"early\nlate\n"


# ---------------------------------------------------------------- item: bad input


BAD_RUN: list[tuple[dict[str, Any], type[Exception], str]] = [
    (
        {"input": "text"},
        errors.InvalidArgumentTypeError,
        "input must be bytes or None, not str .encode",
    ),
    ({"input": 5}, errors.InvalidArgumentTypeError, "input must be bytes or None, not int"),
    ({"input": ["x"]}, errors.InvalidArgumentTypeError, "not list"),
    ({"check": "yes"}, errors.InvalidArgumentTypeError, "check must be True or False"),
    ({"check": None}, errors.InvalidArgumentTypeError, "check must be True or False"),
    (
        {"stdout": "pipe"},
        errors.InvalidArgumentTypeError,
        "stdout must be PIPE, DEVNULL or None, not str",
    ),
    (
        {"stderr": 1.5},
        errors.InvalidArgumentTypeError,
        "stderr must be PIPE, DEVNULL or None, not float",
    ),
    ({"stdout": True}, errors.InvalidArgumentTypeError, "not bool"),
    ({"stdout": 7}, errors.InvalidArgumentError, "stdout must be PIPE, DEVNULL or None, not 7"),
    (
        {"pipe_engine": 5},
        errors.InvalidArgumentTypeError,
        "pipe_engine is 'fd', 'thread' or None, not int",
    ),
    ({"pipe_engine": "nope"}, errors.InvalidArgumentError, "'fd' or 'thread', not 'nope'"),
    ({"drain_timeout": None}, errors.InvalidArgumentTypeError, "drain_timeout"),
    ({"drain_timeout": -1}, errors.InvalidArgumentError, "drain_timeout must be >= 0"),
    ({"guest_os": "BeOS"}, errors.InvalidArgumentError, "guest_os"),
    (
        {"stdin": -1},
        errors.InvalidArgumentTypeError,
        r"run_process\(\) got unexpected keyword arguments: 'stdin'",
    ),
    (
        {"bogus": 1},
        errors.InvalidArgumentTypeError,
        r"run_process\(\) got unexpected keyword arguments: 'bogus'",
    ),
]
BAD_STREAM: list[tuple[Any, dict[str, Any], type[Exception], str]] = [
    (None, {}, errors.InvalidArgumentTypeError, "write must be a callable"),
    (5, {}, errors.InvalidArgumentTypeError, "write must be a callable"),
    (
        print,
        {"input": b"x"},
        errors.InvalidArgumentTypeError,
        r"stream_process\(\) got unexpected .*'input'",
    ),
    (
        print,
        {"stdin": -1},
        errors.InvalidArgumentTypeError,
        r"stream_process\(\) got unexpected .*'stdin'",
    ),
    (
        print,
        {"stdout": "x"},
        errors.InvalidArgumentTypeError,
        "stdout must be PIPE, DEVNULL or None, not str",
    ),
    (print, {"drain_timeout": math.nan}, errors.InvalidArgumentError, "drain_timeout"),
    (print, {"pipe_engine": b"fd"}, errors.InvalidArgumentTypeError, "pipe_engine"),
]


async def refused_before_hcs(system: ComputeSystem, call: Callable[[], Awaitable[object]]) -> Any:
    """Run ``call()``; it must raise (returned) without an HCS call or a process started."""
    async with no_hcs_call(system):
        with pytest.raises(Exception) as caught:  # noqa: PT011 (checked by the caller)
            await call()
    return caught.value


@pytest.mark.parametrize(("kwargs", "error", "match"), BAD_RUN)
async def test_bad_run_process_arguments_are_refused_before_anything_starts(
    linux: ComputeSystem, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    raised = await refused_before_hcs(linux, lambda: linux.run_process(guest("cat"), **kwargs))
    assert type(raised) is error  # (never an exception group)
    assert re.search(match, str(raised)), str(raised)


@pytest.mark.parametrize(("write", "kwargs", "error", "match"), BAD_STREAM)
async def test_bad_stream_process_arguments_are_refused_before_anything_starts(
    linux: ComputeSystem, write: Any, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    raised = await refused_before_hcs(
        linux, lambda: linux.stream_process(guest("cat"), write, **kwargs)
    )
    assert type(raised) is error  # (never an exception group)
    assert re.search(match, str(raised)), str(raised)


async def test_run_process_takes_any_bytes_like_input(linux: ComputeSystem) -> None:
    for data in (b"abc", bytearray(b"abc"), memoryview(b"abc")):
        done = await linux.run_process(guest("cat"), input=data)
        assert done.stdout == b"abc"


async def test_errors_of_a_sink_are_raised_as_they_are(linux: ComputeSystem) -> None:
    class Full(Exception):
        pass

    def write(name: str, chunk: bytes) -> None:
        raise Full(name)

    with anyio.fail_after(10), pytest.raises(Full, match="stdout"):
        await linux.stream_process(guest("echo hi", "sleep 30"), write)
    assert testing.counts().processes == 0
