"""Processes from the outside: pipes, exit codes, the drain after the exit, stopping.

What tests/test_process.py does not already cover: the exit code in every form, the grace
period for pipes after the exit, which failures of signal/terminate/kill mean "already
gone" (False) and which are errors, processes stopped by their system or by a lost
service connection, and backpressure on the pipes. Every test runs on asyncio and trio
and must leave hcsim with no live handle, process or pipe (see conftest.py).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from pathlib import Path

import anyio
import anyio.abc
import pytest
from helpers import ASYNC, KILLED, LINUX, SYNC, WINE, guest, host_alive, no_hcs_call, open_fds

import aiohcs
from aiohcs import errors, testing
from aiohcs.errors import HResult
from aiohcs.events import ProcessExited, ServiceDisconnectedEvent
from aiohcs.process import PipesNotClosed, Process
from aiohcs.system import ComputeSystem

pytestmark = pytest.mark.anyio

PY = sys.executable


def host_state(pid: int) -> str | None:
    """The state letter of host process ``pid`` (hcsim runs guest processes on the host).

    Windows tells only whether it runs: "R", or None once it is gone.
    """
    if sys.platform == "win32":
        return "R" if host_alive(pid) else None
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):  # gone, or going while read
        return None


async def wait_for_state(pid: int, wanted: str | None) -> None:
    """Wait until host process ``pid`` is in one of the ``wanted`` states (None: gone)."""
    with anyio.fail_after(5):
        while True:
            state = host_state(pid)
            if state is None if wanted is None else state is not None and state in wanted:
                return
            await anyio.sleep(0.01)


# ---------------------------------------------------------------- the public API


async def test_the_objects_are_the_anyio_kinds(linux: ComputeSystem, engine: str) -> None:
    assert aiohcs.Process is Process
    async with await linux.open_process(guest("cat"), pipe_engine=engine) as proc:
        assert proc.pid > 0
        assert proc.system_id == linux.system_id == linux.id == "linux"
        assert isinstance(proc.stdin, anyio.abc.ByteSendStream)
        assert isinstance(proc.stdout, anyio.abc.ByteReceiveStream)
        assert isinstance(proc.stderr, anyio.abc.ByteReceiveStream)
        assert proc.returncode is None  # while running
        await proc.stdin.aclose()
        assert await proc.wait() == 0
        assert proc.returncode == 0


async def test_closing_a_process_closes_its_pipes(linux: ComputeSystem, engine: str) -> None:
    """The close releases the pipes itself (the object is still referenced: no GC help).

    POSIX also counts this process's descriptors. Windows' handle table holds threads and
    events too, whose number moves for other reasons: there ``pipe_handles`` (every
    handle open on the pipes, whichever process holds it) is the measure.
    """
    descriptors = sys.platform != "win32"
    await linux.run_process(guest("exit 0"), pipe_engine=engine)  # warm up (what is made once)
    before = open_fds()
    proc = await linux.open_process(guest("cat"), pipe_engine=engine)
    assert not descriptors or open_fds() >= before + 3
    assert testing.counts().pipe_handles == 3
    async with proc:
        assert proc.stdin is not None
        await proc.stdin.aclose()
        assert await proc.wait() == 0
    with anyio.fail_after(5):
        while (descriptors and open_fds() > before) or testing.counts().pipe_handles:
            await anyio.sleep(0.01)
    assert proc.closed


@pytest.mark.xfail(WINE, reason="Wine: explorer.exe can hold a console's pipes", strict=False)
async def test_stdin_aclose_also_closes_hcs_stdin(linux: ComputeSystem) -> None:
    """stdin.aclose() sends EOF and HcsModifyProcess CloseHandle StdIn."""
    async with await linux.open_process(guest("sleep 30"), console=(24, 80)) as proc:
        assert proc.stdin is not None
        # The next ModifyProcess fails with a "gone" error, which the stdin close ignores:
        # had the close not sent one, the resize below would get the fault instead.
        testing.fail_next("HcsModifyProcess", HResult.HCS_E_SYSTEM_NOT_FOUND)
        await proc.stdin.aclose()
        await proc.resize_console(30, 100)
        assert await proc.kill() is True


async def test_stdin_aclose_after_the_exit_makes_no_hcs_call(linux: ComputeSystem) -> None:
    """HCS refuses CloseHandle once the process has exited: it is not sent then."""
    async with await linux.open_process(guest("exit 0")) as proc:
        assert await proc.wait() == 0
        assert proc.stdin is not None
        async with no_hcs_call(linux):
            await proc.stdin.aclose()


async def test_no_shell_is_involved(linux: ComputeSystem, windows: ComputeSystem) -> None:
    tricky = ["$HOME", "*", "a;b", "`id`", "x|y", "'q'", "> out"]
    done = await linux.run_process([PY, "-c", "import sys; print(sys.argv[1:])", *tricky])
    assert done.stdout.decode().strip() == repr(tricky)
    # A Windows guest gets a quoted command line: split back to the same words.
    done = await windows.run_process([PY, "-c", "import sys; print(sys.argv[1:])", *tricky])
    assert done.stdout.decode().strip() == repr(tricky)


# ---------------------------------------------------------------- exit codes 0-255


@pytest.mark.parametrize("code", [0, 1, 2, 42, 126, 127, 128, 200, 254, 255])
async def test_exit_code_everywhere(linux: ComputeSystem, code: int) -> None:
    """wait(), returncode, the ProcessExited event and properties() agree on the code."""
    async with await linux.open_process(guest("read", f"exit {code}")) as proc:
        events = proc.events()
        assert proc.stdin is not None
        await proc.stdin.send(b"\n")
        assert await proc.wait() == code
        assert proc.returncode == code
        (event,) = [e async for e in events]
        assert isinstance(event, ProcessExited)
        assert event.exit_code == code
        assert event.status is not None
        assert event.status.exit_code == code
        status = await proc.properties()
        assert (status.exited, status.exit_code) == (True, code)


async def test_exit_codes_through_windows_command_lines(windows: ComputeSystem) -> None:
    async def one(code: int) -> None:
        done = await windows.run_process([PY, "-c", f"raise SystemExit({code})"], check=False)
        assert done.returncode == code

    async with anyio.create_task_group() as tg:
        for code in range(0, 256, 5):
            tg.start_soon(one, code)


# ---------------------------------------------------------------- drain grace period


@pytest.mark.parametrize(
    ("lets_go", "held"),
    [("quiet err", ("stdout",)), ("quiet out", ("stderr",)), ("", ("stdout", "stderr"))],
)
async def test_drain_grace_period_says_which_pipes(
    linux: ComputeSystem, engine: str, tmp_path: Path, lets_go: str, held: tuple[str, ...]
) -> None:
    """A background child keeps pipes open: the exit is reported after the grace period.

    The child lets go of the other pipe before its parent exits and holds its own until
    the test lets it go (files as signals: how soon an interpreter starts does not matter).
    """
    ready, release = tmp_path / "ready", tmp_path / "release"
    late = "echo late" if held[0] == "stdout" else "err late"
    child = [lets_go, f"touch {ready}", f"await-file {release}", late]
    command = guest(f"spawn {'; '.join(s for s in child if s)}", f"await-file {ready}", "exit 3")
    proc = await linux.open_process(command, pipe_engine=engine, drain_timeout=0.15)
    async with proc:
        started = time.monotonic()
        with pytest.warns(PipesNotClosed, match=f"its {' and '.join(held)} stayed open") as w:
            with anyio.fail_after(10):  # (the child holds them until released)
                assert await proc.wait() == 3
        assert len(w) == 1
        assert time.monotonic() - started > 0.1
        assert proc.pipes_not_closed == held
        assert proc.returncode == 3
        # Later output is not lost: it can still be read.
        release.touch()
        stream = proc.stdout if held[0] == "stdout" else proc.stderr
        assert stream is not None
        assert await stream.read_all() == b"late\n"


async def test_no_grace_period_when_the_pipes_close(linux: ComputeSystem, engine: str) -> None:
    proc = await linux.open_process(guest("exit 0"), pipe_engine=engine, drain_timeout=5)
    async with proc:
        started = time.monotonic()
        assert await proc.wait() == 0
        assert time.monotonic() - started < 1
        assert proc.pipes_not_closed == ()


# ---------------------------------------------------------------- after the exit: benign

# (E_ACCESSDENIED is not "gone" by itself: see the access-denied tests below.)
GONE = [
    HResult.HCS_E_PROCESS_ALREADY_STOPPED,
    HResult.ERROR_NOT_FOUND,
    HResult.HCS_E_SYSTEM_ALREADY_STOPPED,
    HResult.HCS_E_SYSTEM_NOT_FOUND,
]
STOPS: list[tuple[str, str, bool]] = [
    ("send_signal", "HcsSignalProcess", SYNC),
    ("send_signal", "HcsSignalProcess", ASYNC),
    ("terminate", "HcsTerminateProcess", SYNC),
    ("terminate", "HcsTerminateProcess", ASYNC),
    ("kill", "HcsOpenProcess", SYNC),
    ("kill", "HcsTerminateProcess", ASYNC),
]


async def stop(proc: Process, how: str) -> bool:
    if how == "send_signal":
        return await proc.send_signal(signal.SIGTERM)
    result: bool = await getattr(proc, how)()
    return result


@pytest.mark.parametrize("gone", GONE, ids=lambda hr: HResult(hr).name)
@pytest.mark.parametrize(("how", "function", "mode"), STOPS)
async def test_stops_of_a_process_hcs_calls_gone_are_false(
    linux: ComputeSystem, gone: int, how: str, function: str, mode: bool
) -> None:
    """HCS saying the process (or system) is gone makes signal/terminate/kill return False."""
    async with await linux.open_process(guest("sleep 30"), stdin=None, stdout=None) as proc:
        testing.fail_next(function, gone, asynchronous=mode)
        assert await stop(proc, how) is False
        assert await proc.kill() is True  # (the fault was used up; now really stop it)
        assert await proc.wait() == KILLED


@pytest.mark.parametrize(("how", "function", "mode"), STOPS)
async def test_other_stop_failures_are_typed_errors(
    linux: ComputeSystem, how: str, function: str, mode: bool
) -> None:
    async with await linux.open_process(guest("sleep 30"), stdin=None, stdout=None) as proc:
        testing.fail_next(function, HResult.E_FAIL, asynchronous=mode)
        with pytest.raises(errors.HcsError) as caught:
            await stop(proc, how)
        assert caught.value.hresult & 0xFFFFFFFF == HResult.E_FAIL
        assert caught.value.process_id == proc.pid
        assert caught.value.system_id == linux.id
        assert await proc.kill() is True


@pytest.mark.parametrize("mode", [SYNC, ASYNC])
@pytest.mark.parametrize(("how", "function"), sorted({(how, f) for how, f, _ in STOPS}))
async def test_access_denied_to_a_running_process_is_an_error(
    linux: ComputeSystem, monkeypatch: pytest.MonkeyPatch, how: str, function: str, mode: bool
) -> None:
    """ACCESS_DENIED means "gone" only when the process has exited (HCS contract §8.3)."""
    monkeypatch.setattr(aiohcs.process, "_CONFIRM_SECONDS", 0.05)  # (the grace wait: below)
    async with await linux.open_process(guest("sleep 30"), stdin=None, stdout=None) as proc:
        testing.fail_next(function, errors.AccessDenied, asynchronous=mode)
        with pytest.raises(errors.AccessDenied) as caught:
            await stop(proc, how)
        assert caught.value.process_id == proc.pid
        assert not proc.exited
        assert host_state(proc.pid) not in (None, "Z")  # it still runs
        assert await proc.kill() is True
        assert await proc.wait() == KILLED


@pytest.mark.parametrize(
    ("how", "function"), [("terminate", "HcsTerminateProcess"), ("kill", "HcsOpenProcess")]
)
async def test_access_denied_from_a_terminate_of_an_exited_process_is_false(
    linux: ComputeSystem, monkeypatch: pytest.MonkeyPatch, how: str, function: str
) -> None:
    """The exit is confirmed by a properties query (the exit event may not be in yet)."""
    async with await linux.open_process(
        guest("exit 0"), stdin=None, stdout=None, stderr=None
    ) as proc:
        await wait_for_state(proc.pid, None)
        # As if the exit event had not arrived: the call reaches HCS.
        monkeypatch.setattr(Process, "exited", property(lambda self: False))
        testing.fail_next(function, errors.AccessDenied)
        assert await stop(proc, how) is False
        monkeypatch.undo()
        assert await proc.wait() == 0


@pytest.mark.parametrize("mode", [SYNC, ASYNC])
async def test_access_denied_to_a_properties_query_is_an_error(
    linux: ComputeSystem, mode: bool
) -> None:
    """Not an exit: Process.open (whose exit check queries the properties) raises it."""
    async with await linux.open_process(guest("sleep 5"), stdin=None, stdout=None) as proc:
        testing.fail_next("HcsGetProcessProperties", errors.AccessDenied, asynchronous=mode)
        with pytest.raises(errors.AccessDenied):
            await Process.open(linux, proc.pid)
        testing.fail_next("HcsGetProcessProperties", errors.AccessDenied, asynchronous=mode)
        with pytest.raises(errors.AccessDenied):
            await proc.properties()
        other = await Process.open(linux, proc.pid)
        async with other:
            assert not other.exited
            assert (await other.properties()).exited is False
            assert await other.kill() is True
            assert await other.wait() == KILLED
        assert await proc.wait() == KILLED


# A terminate refused as the process exits (two terminates in quick succession,
# HCS contract §8.3): the exit is waited for briefly before AccessDenied is believed.
REFUSED = [*(s for s in STOPS if s[0] != "send_signal"), ("kill", "HcsTerminateProcess", SYNC)]
EXITS_SOON = guest("sleep 0.3")  # well inside the grace period


def still_runs(pid: int) -> bool:
    return host_state(pid) not in (None, "Z")


@pytest.mark.parametrize(("how", "function", "mode"), REFUSED)
async def test_access_denied_while_the_process_exits_is_false(
    linux: ComputeSystem, how: str, function: str, mode: bool
) -> None:
    async with await linux.open_process(EXITS_SOON, stdin=None, stdout=None, stderr=None) as proc:
        assert still_runs(proc.pid)
        testing.fail_next(function, errors.AccessDenied, asynchronous=mode)
        assert await stop(proc, how) is False
        assert proc.exited
        assert await proc.wait() == 0


@pytest.mark.parametrize(("how", "function", "mode"), REFUSED)
async def test_access_denied_after_the_grace_period_is_an_error(
    linux: ComputeSystem, how: str, function: str, mode: bool
) -> None:
    """A process that still runs once the grace period is over: AccessDenied."""
    async with await linux.open_process(guest("sleep 30"), stdin=None, stdout=None) as proc:
        testing.fail_next(function, errors.AccessDenied, asynchronous=mode)
        started = time.monotonic()
        with pytest.raises(errors.AccessDenied) as caught:
            await stop(proc, how)
        assert time.monotonic() - started >= aiohcs.process._CONFIRM_SECONDS - 0.05
        assert caught.value.process_id == proc.pid
        assert not proc.exited
        assert still_runs(proc.pid)
        assert await proc.kill() is True
        assert await proc.wait() == KILLED


@pytest.mark.parametrize("mode", [SYNC, ASYNC])
async def test_refused_kill_after_aclose_asks_the_fresh_handle(
    linux: ComputeSystem, mode: bool
) -> None:
    """After aclose(wait=False) kill() confirms through its own fresh process handle.

    (The object's handle is closed: asking it would fail with HandleClosedError, which
    must not pass for a refusal of a process that did exit.)
    """
    proc = await linux.open_process(EXITS_SOON, stdin=None, stdout=None, stderr=None)
    await proc.aclose(wait=False)
    assert still_runs(proc.pid)
    testing.fail_next("HcsTerminateProcess", errors.AccessDenied, asynchronous=mode)
    assert await proc.kill() is False
    assert not still_runs(proc.pid)
    await wait_for_state(proc.pid, None)


async def test_refused_kill_after_aclose_of_a_running_process(linux: ComputeSystem) -> None:
    """Still running after the grace period: AccessDenied, as with an open handle.

    If HCS even refuses to open the process, nothing is left to ask (the object's handle
    is closed): the AccessDenied is raised at once.
    """
    proc = await linux.open_process(guest("sleep 30"), stdin=None, stdout=None, stderr=None)
    await proc.aclose(wait=False)
    testing.fail_next("HcsTerminateProcess", errors.AccessDenied)
    started = time.monotonic()
    with pytest.raises(errors.AccessDenied) as caught:
        await proc.kill()
    assert time.monotonic() - started >= aiohcs.process._CONFIRM_SECONDS - 0.05
    assert caught.value.operation == "TerminateProcess"
    assert still_runs(proc.pid)
    testing.fail_next("HcsOpenProcess", errors.AccessDenied)
    with pytest.raises(errors.AccessDenied) as caught:
        await proc.kill()
    assert still_runs(proc.pid)
    assert await proc.kill() is True
    await wait_for_state(proc.pid, None)


@pytest.mark.parametrize("how", ["send_signal", "terminate", "kill"])
async def test_stops_after_the_exit_make_no_hcs_call(linux: ComputeSystem, how: str) -> None:
    async with await linux.open_process(
        guest("exit 0"), stdin=None, stdout=None, stderr=None
    ) as proc:
        assert await proc.wait() == 0
        async with no_hcs_call(linux):
            assert await stop(proc, how) is False


async def test_stops_before_the_exit_event_arrives_are_false(linux: ComputeSystem) -> None:
    """The process is gone in HCS but its exit event is not processed yet: still False."""
    async with await linux.open_process(guest("sleep 30"), stdin=None, stdout=None) as proc:
        other = await Process.open(linux, proc.pid)
        async with other:
            assert await other.kill() is True
            with anyio.fail_after(5):
                while host_state(proc.pid) is not None:
                    await anyio.sleep(0.01)
            # Whether or not ``proc`` has seen its exit event yet: False, never an error.
            assert await proc.terminate() is False
            assert await proc.send_signal(signal.SIGTERM) is False
            assert await proc.kill() is False
            assert await other.wait() == KILLED
        assert await proc.wait() == KILLED
        assert await proc.terminate() is False


@pytest.mark.posix_only("a POSIX signal handler in the host process")
async def test_kill_does_not_queue_behind_a_pending_signal(linux: ComputeSystem) -> None:
    """kill() uses fresh handles: a slow signal on the process handle does not delay it."""
    code = "import signal, time\nsignal.signal(signal.SIGUSR1, lambda *a: None)\ntime.sleep(30)\n"
    async with await linux.open_process([PY, "-c", code], stdin=None, stdout=None) as proc:
        with testing.delay("HcsSignalProcess", completion_ms=3000):
            async with anyio.create_task_group() as tg:
                tg.start_soon(proc.send_signal, signal.SIGUSR1)
                await anyio.sleep(0.05)
                started = time.monotonic()
                assert await proc.kill() is True
                assert await proc.wait() == KILLED
                assert time.monotonic() - started < 1.5


async def test_kill_uses_a_fresh_system_and_process_handle(linux: ComputeSystem) -> None:
    """HCS serialises signals per system handle (HCS contract §8.3): kill goes around them."""
    async with await linux.open_process(guest("sleep 30"), stdin=None, stdout=None) as proc:
        before = testing.counts()
        with testing.delay("HcsTerminateProcess", completion_ms=300):
            async with anyio.create_task_group() as tg:
                tg.start_soon(proc.kill)
                with anyio.fail_after(5):
                    while testing.counts().pending_operations == 0:  # the terminate is in HCS
                        await anyio.sleep(0.005)
                during = testing.counts()
        assert during.system_handles == before.system_handles + 1
        assert during.process_handles == before.process_handles + 1
        assert testing.counts().system_handles == before.system_handles  # closed again
        assert await proc.wait() == KILLED


# ---------------------------------------------------------------- the system stops them


@pytest.mark.parametrize("how", ["terminate", "crash"])
async def test_processes_die_with_their_system(engine: str, how: str) -> None:
    async with await ComputeSystem.create("mortal", LINUX) as system:
        await system.start()
        procs = [await system.open_process(guest("sleep 30"), pipe_engine=engine) for _ in range(3)]
        for proc in procs:
            assert host_state(proc.pid) in ("S", "R")
        await getattr(system, how)()
        for proc in procs:
            async with proc:
                assert await proc.wait() == KILLED
                assert await proc.kill() is False
                assert await proc.send_signal(signal.SIGTERM) is False
        for proc in procs:
            await wait_for_state(proc.pid, None)  # reaped: gone from the host
        await system.wait()
        with pytest.raises(errors.HcsError):
            await system.open_process(guest("exit 0"))
    assert testing.counts().processes == 0


@pytest.mark.posix_only("reads the host process state (stopped or running) from /proc")
async def test_pause_stops_the_processes_and_resume_continues_them(linux: ComputeSystem) -> None:
    procs = [
        await linux.open_process(guest("sleep 30"), stdin=None, stdout=None, stderr=None)
        for _ in range(3)
    ]
    try:
        for proc in procs:
            await wait_for_state(proc.pid, "SR")
        await linux.pause()
        for proc in procs:
            await wait_for_state(proc.pid, "T")  # stopped (SIGSTOP)
        with pytest.raises(errors.InvalidState):
            await linux.open_process(guest("exit 0"))  # no new process in a paused system
        await linux.resume()
        for proc in procs:
            await wait_for_state(proc.pid, "SR")  # continued
            assert not proc.exited
    finally:
        for proc in procs:
            with contextlib.suppress(errors.HcsError):
                await proc.kill()
            await proc.aclose()
    assert all(proc.returncode == KILLED for proc in procs)


async def test_kill_works_on_a_paused_system(linux: ComputeSystem) -> None:
    async with await linux.open_process(guest("sleep 30"), stdin=None, stdout=None) as proc:
        await linux.pause()
        try:
            assert await proc.kill() is True
            assert await proc.wait() == KILLED
        finally:
            await linux.resume()


# ---------------------------------------------------------------- events


@pytest.mark.hcsim_leaves_systems  # a disconnected service cannot terminate anything
async def test_service_disconnect_ends_process_events_and_waits() -> None:
    system = await ComputeSystem.create("cut", LINUX)
    await system.start()
    # Short-lived: the process ends by itself (nothing can stop it once disconnected).
    proc = await system.open_process(guest("sleep 0.5"), stdin=None, stdout=None, stderr=None)
    events = proc.events()
    testing.disconnect_service()
    with anyio.fail_after(5):
        seen = [e async for e in events]
    assert [type(e) for e in seen] == [ServiceDisconnectedEvent]
    with pytest.raises(errors.ServiceDisconnected) as caught:
        await proc.wait()
    assert caught.value.process_id == proc.pid
    with pytest.raises(errors.ServiceDisconnected):
        await proc.kill()
    await proc.aclose()  # returns at once: nothing to wait for
    await system.aclose()


# ---------------------------------------------------------------- backpressure

_PRODUCER = (
    "import sys\n"
    "chunk = b'x' * 65536\n"
    "for n in range(1, 100000):\n"
    "    sys.stdout.buffer.write(chunk); sys.stdout.buffer.flush()\n"
    "    sys.stderr.write(f'{n}\\n'); sys.stderr.flush()\n"
)


async def test_a_consumer_that_stops_reading_stops_the_producer(
    linux: ComputeSystem, engine: str
) -> None:
    async with await linux.open_process([PY, "-c", _PRODUCER], pipe_engine=engine) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        progress = proc.stderr

        async def chunks_written(idle: float) -> int:
            """The producer's count once it has written nothing for ``idle`` seconds."""
            lines = b""
            while True:
                with anyio.move_on_after(idle) as quiet:
                    lines += await progress.receive()
                if quiet.cancelled_caught:
                    return int(lines.rstrip(b"\n").rsplit(b"\n", 1)[-1])

        first = await chunks_written(0.3)  # nobody reads stdout: the producer blocks
        assert first * 65536 < 16 << 20, "unbounded buffering between producer and reader"
        got = 0
        while got < 8 << 20:  # reading lets it go on
            got += len(await proc.stdout.receive())
        assert await chunks_written(0.3) >= first + 100
        assert await proc.kill() is True
