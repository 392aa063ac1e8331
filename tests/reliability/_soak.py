"""Soak: many thousands of calls in a loop; RSS, fds and threads must stay flat.

``python -m reliability._soak BACKEND CALLS`` makes ``CALLS`` API calls (compute system
life cycles with event iteration, processes on both pipe engines, enumeration, service
queries; a burst of concurrent ones first) and samples this process's RSS
(/proc/self/statm), open fds (/proc/self/fd) and threads (/proc/self/task) after the
warm-up (a fifth of the calls) and at the end, each time after a garbage collection with
nothing running.
"""

from __future__ import annotations

import dataclasses
import gc
import sys
import threading
import time
from typing import Any, Final

import anyio

from aiohcs import testing
from aiohcs.service import service_properties
from aiohcs.system import ComputeSystem, enumerate_systems
from reliability._common import (
    CONTAINER,
    LINUX_VM,
    MEMORY_UPDATE,
    arm_deadline,
    emit,
    leftover_processes,
    log,
    resources,
    tag,
)

#: The fraction of the calls that is warm-up (the first checkpoint comes after it).
WARM_UP: Final = 0.2
#: Systems living through a burst of concurrent calls at the start of the warm-up (the
#: thread pools grow on demand, up to their size, and do not count as growth).
BURST: Final = 64


class Soak:
    """The loop, counting calls."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.calls = 0
        self.cycles = 0

    async def cycle(self) -> None:
        linux = self.cycles % 2 == 0
        engine = "fd" if self.cycles % 4 < 2 else "thread"
        system = await ComputeSystem.create(f"soak-{self.cycles}", LINUX_VM if linux else CONTAINER)
        stream = system.events()
        await system.start()
        await system.properties()
        await system.pause()
        await system.resume()
        await system.properties("Memory")
        self.calls += 6
        if linux:
            await system.modify(MEMORY_UPDATE)
            done = await system.run_process(["true"], pipe_engine=engine)
            assert done.returncode == 0
            async with await system.open_process(["cat"], pipe_engine=engine) as proc:
                assert proc.stdin is not None
                assert proc.stdout is not None
                await proc.stdin.send(b"soak\n")
                await proc.stdin.aclose()
                assert await proc.stdout.read_all() == b"soak\n"
                assert await proc.wait() == 0
            self.calls += 3
        await system.terminate()
        events = [event async for event in stream]
        assert events, "the iterator ended without the exit event"
        await system.wait()
        await system.aclose()
        self.calls += 4
        if self.cycles % 10 == 0:
            await enumerate_systems()
            await service_properties()
            self.calls += 2
        self.cycles += 1

    async def burst(self) -> None:
        """Many calls at once: the thread pools grow to their size."""

        async def one(number: int) -> None:
            async with await ComputeSystem.create(f"burst-{number}", LINUX_VM) as system:
                await system.start()
                await system.run_process(["true"], pipe_engine="thread" if number % 2 else "fd")
                await system.properties()
                await system.terminate()

        # Slow creates and enumerations hold their threads: both pools reach their size.
        with (
            testing.delay("HcsCreateComputeSystemInNamespace", sync_ms=30),
            testing.delay("HcsEnumerateComputeSystems", sync_ms=30),
        ):
            async with anyio.create_task_group() as tg:
                for number in range(BURST):
                    tg.start_soon(one, number)
                    tg.start_soon(enumerate_systems)
        self.calls += 7 * BURST

    async def checkpoint(self) -> dict[str, Any]:
        for _ in range(3):
            gc.collect()
            await anyio.sleep(0.05)
        counts = await testing.assert_no_leaks_async(settle=10.0)
        sample = dataclasses.asdict(resources())
        sample["python_threads"] = threading.active_count()
        sample["calls"] = self.calls
        sample["counts_ok"] = not counts.leaks()
        return sample

    async def run(self) -> dict[str, Any]:
        started = time.monotonic()
        await self.burst()
        while self.calls < self.total * WARM_UP:
            await self.cycle()
        early = await self.checkpoint()
        log(f"after warm-up: {early}")
        middle_at = (self.total + self.calls) // 2
        middle: dict[str, Any] = {}
        while self.calls < self.total:
            await self.cycle()
            if not middle and self.calls >= middle_at:
                middle = await self.checkpoint()
                log(f"middle: {middle}")
        end = await self.checkpoint()
        log(f"end: {end}")
        return {
            "calls": self.calls,
            "cycles": self.cycles,
            "seconds": round(time.monotonic() - started, 2),
            "early": early,
            "middle": middle,
            "end": end,
            "leftover_processes": [p.describe() for p in leftover_processes(tag())],
        }


def main() -> None:
    """Entry point: BACKEND CALLS."""
    backend, total = sys.argv[1], int(sys.argv[2])
    arm_deadline()
    log(f"soak on {backend}: {total} calls")
    result = anyio.run(Soak(total).run, backend=backend)
    result["backend"] = backend
    emit(result)


if __name__ == "__main__":
    main()
