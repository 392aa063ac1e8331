"""The first call of an event loop sets up its bridge (wake socketpair, C queue, drain task).

Out of descriptors at that moment: a typed error that names the cause, nothing left made
(no descriptor, no bridge mapped to the loop) and the next call, once descriptors are free,
works. Each case runs in a fresh interpreter, where no loop has a bridge yet.
"""

from __future__ import annotations

import functools
import os
import sys
import textwrap
import threading

import anyio
import anyio.to_thread
import pytest

from aiohcs import _bridge, errors
from aiohcs.service import service_properties
from aiohcs.system import enumerate_systems

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.posix_only("counts the wake socket's descriptors in /proc/self/fd", linux=True),
]

FIRST_CALL = textwrap.dedent(
    """
    import os, resource, sys, anyio
    from aiohcs import _bridge, errors
    from aiohcs.system import ComputeSystem, enumerate_systems

    CONFIG = {
        "SchemaVersion": {"Major": 2, "Minor": 1},
        "Owner": "aiohcs-tests",
        "Container": {"Storage": {"Layers": []}},
    }

    def fds():
        return sorted(os.listdir("/proc/self/fd"))

    async def main():
        before = fds()
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (len(before) + 32, hard))
        taken = []
        while True:
            try:
                taken.append(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                break
        outcomes = []
        try:
            for call in (enumerate_systems, lambda: ComputeSystem.create("first", CONFIG)):
                try:
                    await call()
                except errors.ResourceExhausted as exc:
                    outcomes.append(f"exhausted: {exc}")
                except BaseException as exc:
                    outcomes.append(f"untyped: {exc!r}")
                else:
                    outcomes.append("no error")
        finally:
            for fd in taken:
                os.close(fd)
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        for line in outcomes:
            print(line)
        print("descriptors left:", sorted(set(fds()) - set(before)))
        print("bridges:", len(_bridge._registry._every_bridge))
        system = await ComputeSystem.create("first", CONFIG)
        print("recovered:", (await system.properties()).state)
        await system.aclose()
        print("bridges:", len(_bridge._registry._every_bridge))

    anyio.run(main, backend=sys.argv[1])
    """
)


async def test_first_call_of_a_loop_out_of_descriptors(anyio_backend: str) -> None:
    with anyio.fail_after(60):
        out = await anyio.run_process(
            [sys.executable, "-c", FIRST_CALL, anyio_backend], check=False
        )
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    lines = out.stdout.decode().splitlines()
    assert len(lines) == 6, lines
    for line in lines[:2]:  # enumerate_systems(), then create(): both find no descriptor
        assert line.startswith("exhausted: ERROR_TOO_MANY_OPEN_FILES (0x80070004)"), line
        assert "EMFILE" in line
    assert lines[2] == "descriptors left: []"
    assert lines[3] == "bridges: 0"  # nothing half-made stayed mapped to the loop
    assert lines[4] == "recovered: Created"
    assert lines[5] == "bridges: 1"


async def test_a_bridge_that_cannot_start_leaves_nothing_made(
    anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after the socketpair and C queue exist (starting the drain task) frees them."""
    fds = len(os.listdir("/proc/self/fd"))
    real_start = _bridge.LoopBridge._start
    made: list[_bridge.LoopBridge] = []

    def failing_start(self: _bridge.LoopBridge) -> None:
        made.append(self)
        raise MemoryError

    async def first_calls() -> list[str]:
        outcomes = []
        try:
            await enumerate_systems()
        except errors.ResourceExhausted as exc:
            outcomes.append(exc.name)
        monkeypatch.setattr(_bridge.LoopBridge, "_start", real_start)
        outcomes.append(type(await enumerate_systems()).__name__)  # the same loop recovers
        return outcomes

    monkeypatch.setattr(_bridge.LoopBridge, "_start", failing_start)
    # (a new event loop, in a thread: this test's own loop has its bridge already)
    outcomes = await anyio.to_thread.run_sync(
        functools.partial(anyio.run, first_calls, backend=anyio_backend)
    )
    assert outcomes == ["E_OUTOFMEMORY", "list"]
    assert len(made) == 1
    assert made[0]._native.freed  # its socketpair and C queue were freed at once
    assert made[0] not in _bridge._registry._every_bridge
    assert len(os.listdir("/proc/self/fd")) == fds


async def test_no_worker_thread_is_a_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Calls made in worker threads when none runs and none can start: ResourceExhausted.

    Both kinds of job (an operation started in a thread, a blocking call) report it to
    their caller; nothing waits for ever, the loop goes on, and the calls work again once
    threads can start.
    """
    real_start = threading.Thread.start
    refused: list[str] = []

    def start(self: threading.Thread) -> None:
        if self.name == "aiohcs worker":
            refused.append(self.name)
            raise RuntimeError("can't start new thread")
        real_start(self)

    with monkeypatch.context() as patch:
        patch.setattr(_bridge._core, "workers", _bridge.WorkerPool())  # (no thread running)
        patch.setattr(threading.Thread, "start", start)
        with anyio.fail_after(30):
            with pytest.raises(errors.ResourceExhausted, match="can't start new thread"):
                await enumerate_systems()  # an operation started in a worker thread
            with pytest.raises(errors.ResourceExhausted, match="can't start new thread"):
                await service_properties()  # a blocking call in a worker thread
    assert refused
    with anyio.fail_after(30):
        assert isinstance(await enumerate_systems(), list)
        assert (await service_properties()).properties
