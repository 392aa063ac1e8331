"""os.fork() with aiohcs in use: the child gets a fresh emulator, inherited objects fail fast.

Each test forks for real. The child reports through its exit status and a pipe (the text
of whatever went wrong); the parent bounds its wait and kills a child that hangs, so a
regression shows up as a failure, not as a stuck run. The parent keeps using its own
system afterwards: the fork must not disturb it either.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from helpers import CONTAINER as CONFIG
from helpers import guest

from aiohcs import ComputeSystem, UsedAfterForkError, enumerate_systems, run_process

pytestmark = pytest.mark.posix_only("fork")

# Generous: a loaded 2-core machine. A hang lasts for ever, so any bound shows it.
CHILD_DEADLINE = 60.0


def _fork(child: Callable[[], None]) -> tuple[int, int]:
    """Fork; the child runs ``child()`` and exits 0, or writes its traceback and exits 1."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's coverage is not collected
        status = 1
        try:
            os.close(read_fd)
            child()
            status = 0
        except BaseException:
            with open(write_fd, "w", closefd=False) as out:
                out.write(traceback.format_exc())
        finally:
            os._exit(status)
    os.close(write_fd)
    return pid, read_fd


async def _reap(pid: int, read_fd: int) -> None:
    """Wait (bounded, without blocking the loop) for the child; fail with its report."""
    deadline = time.monotonic() + CHILD_DEADLINE
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(read_fd)
            pytest.fail(f"the forked child hung (killed after {CHILD_DEADLINE:.0f} s)")
        await anyio.sleep(0.01)
    with open(read_fd, encoding="utf-8", errors="replace") as report:
        text = report.read()
    assert os.WIFEXITED(status), f"child ended by signal {os.WTERMSIG(status)}\n{text}"
    assert os.WEXITSTATUS(status) == 0, f"the child failed:\n{text}"


def _in_new_loop(fn: Callable[[], Any], backend: str) -> None:
    """Run ``fn`` in a new event loop of ``backend`` on a new thread; re-raise its error.

    The forking thread is inside the parent's (now unusable) loop, so the child's own
    loop runs on a thread of its own.
    """
    errors: list[BaseException] = []

    def main() -> None:
        try:
            anyio.run(fn, backend=backend)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=main)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


async def _busy(system: ComputeSystem, stop: anyio.Event) -> None:
    """Keep hcsim's workers and the bridge busy (so the fork lands mid-call)."""
    while not stop.is_set():
        await system.properties()


async def _child_checks(inherited: ComputeSystem) -> None:
    """What a child's new loop must see: a working, fresh emulator; inherited objects refused."""
    with anyio.fail_after(20):
        # The parent's system belongs to the parent's emulator: the child's is empty.
        assert [p.id for p in await enumerate_systems()] == []
        async with await ComputeSystem.create("child", CONFIG) as system:
            await system.start()
            assert (await system.properties()).state == "Running"
            result = await run_process(system, guest("echo from-child"))
            assert result.stdout == b"from-child\n"
            await system.terminate()
            await system.wait()
        # Objects of the parent fail at once, with the typed error.
        for call in (
            inherited.properties,
            inherited.pause,
            inherited.wait,
            lambda: run_process(inherited, guest("exit 0")),
        ):
            with pytest.raises(UsedAfterForkError, match="fork"):
                await call()
        with pytest.raises(UsedAfterForkError):
            inherited.events()
        # Closing one is allowed (unwinding 'async with' in the child): it ends at once.
        await inherited.aclose()


@pytest.mark.anyio
async def test_child_gets_fresh_emulator_and_refuses_inherited(anyio_backend: str) -> None:
    async with await ComputeSystem.create("parent", CONFIG) as system:
        await system.start()
        stream = system.events()
        stop = anyio.Event()
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(_busy, system, stop)
            await anyio.sleep(0.05)
            # Several forks, each in the middle of calls (workers may hold hcsim's lock).
            for _ in range(3):
                pid, read_fd = _fork(
                    lambda: _in_new_loop(lambda: _child_checks(system), anyio_backend)
                )
                await _reap(pid, read_fd)
            stop.set()
        # The parent is undisturbed: its system, its calls and its events still work.
        assert (await system.properties()).state == "Running"
        await system.terminate()
        with anyio.fail_after(10):
            events = [type(event).__name__ async for event in stream]
        assert events == ["SystemExited"]


@pytest.mark.anyio
async def test_child_continuing_in_inherited_loop_fails_fast(anyio_backend: str) -> None:
    async with await ComputeSystem.create("parent", CONFIG) as system:
        await system.start()

        def child() -> None:
            # Still inside the parent's loop (it is the same task): the first call must
            # raise at once. asyncio itself refuses a loop inherited across fork before
            # aiohcs is reached; trio does not, and aiohcs raises its typed error.
            start = time.monotonic()
            # (asyncio: RuntimeError "no running event loop" / sniffio's error, a subclass.)
            expected = UsedAfterForkError if anyio_backend == "trio" else RuntimeError
            for call in (enumerate_systems, system.properties):
                coro = call()
                with pytest.raises(expected):
                    coro.send(None)
                coro.close()
            with pytest.raises(UsedAfterForkError):
                system.events()
            assert time.monotonic() - start < 5

        pid, read_fd = _fork(child)
        await _reap(pid, read_fd)
        await system.terminate()


def test_child_of_sync_parent_runs_new_loops() -> None:
    """The parent used aiohcs in loops that have ended; the child runs loops of its own."""

    async def parent_use() -> ComputeSystem:
        system = await ComputeSystem.create("sync-parent", CONFIG)
        await system.start()
        return system

    async def parent_end(system: ComputeSystem) -> None:
        # (The parent's loop has ended too: a new one opens the system again.)
        async with await ComputeSystem.open("sync-parent") as again:
            assert (await again.properties()).state == "Running"
            await again.terminate()
        await system.aclose()

    async def empty() -> None:
        assert await enumerate_systems() == []

    for backend in ("asyncio", "trio"):
        system = anyio.run(parent_use, backend=backend)

        def child(system: ComputeSystem = system, backend: str = backend) -> None:
            anyio.run(_child_checks, system, backend=backend)
            # A second, fresh loop, of the other kind.
            anyio.run(empty, backend="trio" if backend == "asyncio" else "asyncio")

        pid, read_fd = _fork(child)
        anyio.run(_reap, pid, read_fd, backend=backend)
        anyio.run(parent_end, system, backend=backend)


def test_a_fork_during_the_warm_up_restores_the_switch_interval_in_the_child(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The thread that would restore it does not come along into the child."""
    from aiohcs._bridge import _warmup

    before = sys.getswitchinterval()
    # As the warm-up's worker leaves it while it runs (see aiohcs._bridge._warmup).
    monkeypatch.setattr(_warmup, "_warm_up_saved", [before])
    sys.setswitchinterval(before / 10)
    try:

        def child() -> None:
            assert sys.getswitchinterval() == pytest.approx(before)

        pid, read_fd = _fork(child)
    finally:
        sys.setswitchinterval(before)
    anyio.run(_reap, pid, read_fd)
