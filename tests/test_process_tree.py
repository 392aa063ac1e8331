"""A compute system is a job: its end ends every host process it started, whole trees.

A guest command's background child (``guest("spawn sleep 1000", "spawn-pid")``) must be gone within
5 s after the system is terminated, after the last handle of a system with
ShouldTerminateOnLastHandleClosed is closed, after the hosting interpreter exits with an
unhandled exception, and after the hosting process is killed with SIGKILL (hcsim's guard
process notices). Pids come from the guest command's own output.
"""

from __future__ import annotations

import sys
import textwrap
import time

import anyio
import pytest
from helpers import LINUX, guest, host_alive, kill_host

from aiohcs.process import Process
from aiohcs.system import ComputeSystem

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(sys.platform not in ("linux", "win32"), reason="reads /proc on POSIX"),
]

#: A leader that keeps running (it waits) with a background child; prints both pids.
TREE = guest("spawn sleep 1000", "spawn-pid", "pid", "wait")
#: The issue's case: the leader exits at once, its background child stays (parent: init).
BACKGROUND = guest("spawn sleep 1000", "spawn-pid")
#: How many pids each prints.
PIDS = {id(TREE): 2, id(BACKGROUND): 1}
GONE_WITHIN = 5.0


def pid_gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (no such process, or a zombie nobody reaped yet)."""
    if not host_alive(pid):
        return True
    if sys.platform == "win32":
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except FileNotFoundError:
        return True
    return stat[stat.rindex(")") + 2] in "ZX"


async def assert_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + GONE_WITHIN
    while not all(pid_gone(pid) for pid in pids):
        if time.monotonic() > deadline:
            alive = [pid for pid in pids if not pid_gone(pid)]
            for pid in alive:  # do not leave them behind for the other tests
                kill_host(pid)
            pytest.fail(f"still running {GONE_WITHIN} s later: {alive}")
        await anyio.sleep(0.02)


async def read_pids(proc: Process, count: int) -> list[int]:
    """The first ``count`` lines of the process's stdout, as pids."""
    assert proc.stdout is not None
    data = b""
    with anyio.fail_after(10):
        while data.count(b"\n") < count:
            data += await proc.stdout.receive()
    pids = [int(line) for line in data.split(b"\n")[:count]]
    assert all(not pid_gone(pid) for pid in pids)
    return pids


@pytest.mark.parametrize("script", [BACKGROUND, TREE], ids=["background", "tree"])
async def test_tree_gone_after_terminate(linux: ComputeSystem, script: list[str]) -> None:
    async with await linux.open_process(script, drain_timeout=0.1) as proc:
        pids = await read_pids(proc, PIDS[id(script)])
        await anyio.sleep(0.05)
        assert all(not pid_gone(pid) for pid in pids)
        await linux.terminate()
        await assert_gone(pids)
        await proc.wait()


@pytest.mark.parametrize("script", [BACKGROUND, TREE], ids=["background", "tree"])
async def test_tree_gone_after_last_handle_close(script: list[str]) -> None:
    config = {**LINUX, "ShouldTerminateOnLastHandleClosed": True}
    system = await ComputeSystem.create("tree-last-handle", config)
    try:
        await system.start()
        proc = await system.open_process(script)
        try:
            pids = await read_pids(proc, PIDS[id(script)])
        finally:
            await proc.aclose(wait=False)  # the leader and its child keep running
        await anyio.sleep(0.05)
        assert all(not pid_gone(pid) for pid in pids)
    finally:
        await system.aclose()  # the last handle: the system terminates
    await assert_gone(pids)


# A script that hosts two systems in a fresh interpreter, prints the pids of a guest
# process tree in each (one line per system), then ends as the test asks.
HOST_SCRIPT = textwrap.dedent(
    """
    import os, sys, time, anyio
    from aiohcs.system import ComputeSystem

    async def main(how):
        for name in ("host1", "host2"):
            system = await ComputeSystem.create(name, {config!r})
            await system.start()
            proc = await system.open_process({tree!r})
            data = b""
            while data.count(b"\\n") < 2:
                data += await proc.stdout.receive()
            print(" ".join(p.decode() for p in data.split()[:2]), flush=True)
        if how == "raise":
            raise RuntimeError("unhandled")
        child = 0
        if how == "fork":  # a child of fork() gets a copy of every descriptor
            child = os.fork()
            if child == 0:
                time.sleep(1000)
                os._exit(0)
        print("ready", child, flush=True)
        await anyio.sleep_forever()

    anyio.run(main, sys.argv[1])
    """
).format(config=LINUX, tree=TREE)


async def run_host(how: str) -> tuple[anyio.abc.Process, list[int], list[bytes]]:
    """Start the hosting interpreter; returns it, the guest pids it printed, its lines."""
    proc = await anyio.open_process([sys.executable, "-c", HOST_SCRIPT, how])
    assert proc.stdout is not None
    out = b""
    want = 2 if how == "raise" else 3
    try:
        with anyio.fail_after(30):
            while out.count(b"\n") < want:
                out += await proc.stdout.receive()
    except BaseException:
        proc.kill()  # (its guard then ends what it started)
        raise
    lines = out.split(b"\n")
    pids = [int(p) for line in lines[:2] for p in line.split()]
    assert len(pids) == 4
    assert all(not pid_gone(pid) for pid in pids)
    return proc, pids, lines


async def test_tree_gone_after_interpreter_exit_with_exception() -> None:
    proc, pids, _ = await run_host("raise")
    async with proc:
        with anyio.fail_after(30):
            assert await proc.wait() == 1  # the unhandled exception
    await assert_gone(pids)


@pytest.mark.parametrize(
    "how", ["sleep", pytest.param("fork", marks=pytest.mark.posix_only("fork"))]
)
async def test_tree_gone_after_kill_of_host(how: str) -> None:
    proc, pids, lines = await run_host(how)
    forked = int(lines[2].split()[1])
    try:
        async with proc:
            proc.kill()  # SIGKILL (Windows: TerminateProcess): nothing runs in the host any more
            await proc.wait()
        await assert_gone(pids)
    finally:
        if forked:  # the host's own child from fork() (not a guest): it still runs
            survived = not pid_gone(forked)
            kill_host(forked)
            assert survived
