"""fd exhaustion: RLIMIT_NOFILE lowered, every fd taken; then full recovery.

``python -m reliability._fdlimit BACKEND`` lowers its own RLIMIT_NOFILE to 200, fills the
fd table with /dev/null descriptors but for 0, 1, 2, ... free ones, and at each level
tries: a first ``properties()``, ``open_process`` on both pipe engines, ``run_process``,
``stream_process`` and a new compute system. Contract: each call works or raises an
aiohcs error that names the cause (EMFILE / "too many open files"); once the fds are
given back nothing is left running or held (hcsim counts, host processes); then
everything works again (limit restored).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import re
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import anyio

from aiohcs import errors, testing
from aiohcs.process import Process
from aiohcs.system import ComputeSystem
from reliability._common import (
    LINUX_VM,
    arm_deadline,
    describe_exception,
    emit,
    is_typed,
    kill_all,
    leaks_after_settling,
    leftover_processes,
    log,
    tag,
)

LIMIT: Final = 200
FREE_LEVELS: Final = (0, 1, 2, 3, 4, 5, 6, 8, 10, 12)
CAUSE: Final = re.compile(r"too many open files|EMFILE|errno 24|\[Errno 24\]", re.I)


def names_the_cause(exc: BaseException) -> bool:
    """The error (or an exception it chains) says the fds ran out."""
    seen: BaseException | None = exc
    while seen is not None:
        if getattr(seen, "errno", None) in (errno.EMFILE, errno.ENFILE):
            return True
        if CAUSE.search(str(seen)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class Filler:
    """Holds /dev/null descriptors so that only ``free`` fds stay available."""

    def __init__(self) -> None:
        self.fds: list[int] = []

    def fill(self, free: int) -> None:
        self.release()
        with contextlib.suppress(OSError):
            while True:
                self.fds.append(os.open(os.devnull, os.O_RDONLY))
        for _ in range(min(free, len(self.fds))):
            os.close(self.fds.pop())

    def release(self) -> None:
        while self.fds:
            os.close(self.fds.pop())


class Probe:
    """The attempts at each level, and the recovery."""

    def __init__(self) -> None:
        self.system: ComputeSystem | None = None
        self.attempts: list[dict[str, Any]] = []
        self.held: list[dict[str, Any]] = []
        self.created = 0
        self.baseline = testing.counts()

    async def new_system(self) -> ComputeSystem:
        self.created += 1
        system = await ComputeSystem.create(f"fd-{self.created}", LINUX_VM)
        try:
            await system.start()
        except BaseException:
            await system.aclose()
            raise
        return system

    def steps(self) -> dict[str, Callable[[], Awaitable[object]]]:
        system = self.system
        assert system is not None
        return {
            "properties": system.properties,
            "open_process[fd]": lambda: system.open_process(["cat"], pipe_engine="fd"),
            "open_process[thread]": lambda: system.open_process(["cat"], pipe_engine="thread"),
            "run_process": lambda: system.run_process(["echo", "ok"], check=False),
            "stream_process": lambda: system.stream_process(["echo", "ok"], lambda _n, _c: None),
            "create": self.new_system,
        }

    async def attempt(self, free: int, name: str, call: Callable[[], Awaitable[object]]) -> None:
        entry: dict[str, Any] = {"free": free, "call": name}
        started = time.monotonic()
        result: object = None
        try:
            with anyio.fail_after(15):
                result = await call()
            entry["outcome"] = "ok"
        except TimeoutError:
            entry["outcome"] = "no answer in 15 s"
        except Exception as exc:
            typed = is_typed(exc)
            cause = names_the_cause(exc)
            entry["outcome"] = (
                "typed, names the cause"
                if typed and cause
                else "typed, cause not named"
                if typed
                else "untyped"
            )
            entry["error"] = describe_exception(exc)
        entry["seconds"] = round(time.monotonic() - started, 3)
        with anyio.CancelScope(shield=True):
            if isinstance(result, Process):
                with contextlib.suppress(errors.HcsError):
                    await result.kill()
                await result.aclose(wait=False)
            elif isinstance(result, ComputeSystem):
                with contextlib.suppress(errors.HcsError):
                    await result.terminate()
                await result.aclose()
        self.attempts.append(entry)

    async def check_nothing_held(self, free: int, call: str) -> None:
        """After the fds are back: no process, handle or pipe beyond what was there before.

        A hold is recorded once (it becomes the new baseline, so later checks do not
        wait for it again).
        """
        deadline = time.monotonic() + 3.0
        while True:
            now = testing.counts()
            extra = now.leaks(allow_systems=True, baseline=self.baseline)
            left = leftover_processes(tag())
            if (not extra and not left) or time.monotonic() > deadline:
                break
            await anyio.sleep(0.05)
        if extra or left:
            self.held.append(
                {
                    "free": free,
                    "call": call,
                    "counts": extra,
                    "processes": [p.describe() for p in left],
                }
            )
            self.baseline = now
            kill_all(left)

    async def run(self) -> dict[str, Any]:
        self.system = await self.new_system()
        self.baseline = testing.counts()
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        filler = Filler()
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(LIMIT, hard), hard))
            for free in FREE_LEVELS:
                for name, call in self.steps().items():
                    filler.fill(free)
                    try:
                        await self.attempt(free, name, call)
                    finally:
                        filler.release()
                    await self.check_nothing_held(free, name)
                log(f"{free} free fds: {[a['outcome'] for a in self.attempts[-6:]]}")
        finally:
            filler.release()
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        recovery = await self.recover()
        return {
            "limit": LIMIT,
            "levels": list(FREE_LEVELS),
            "attempts": self.attempts,
            "outcomes": self.summary(),
            "held": self.held,
            "recovery": recovery,
        }

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for entry in self.attempts:
            counts[entry["outcome"]] = counts.get(entry["outcome"], 0) + 1
        return counts

    async def recover(self) -> dict[str, Any]:
        """Everything works again; then nothing is left."""
        system = self.system
        assert system is not None
        outcome: dict[str, Any] = {}
        try:
            with anyio.fail_after(30):
                for engine in ("fd", "thread"):
                    done = await system.run_process(["echo", "ok"], pipe_engine=engine)
                    outcome[f"run_process[{engine}]"] = done.stdout == b"ok\n"
                outcome["properties"] = (await system.properties()).state == "Running"
                other = await self.new_system()
                await other.terminate()
                await other.aclose()
                outcome["create"] = True
                await system.terminate()
                await system.aclose()
        except Exception as exc:
            outcome["error"] = describe_exception(exc)
        outcome["leaks"], _ = await leaks_after_settling()
        outcome["counts"] = dataclasses.asdict(testing.counts())
        outcome["leftover_processes"] = [p.describe() for p in leftover_processes(tag())]
        return outcome


def main() -> None:
    """Entry point: BACKEND."""
    backend = sys.argv[1]
    arm_deadline()
    log(f"fd exhaustion on {backend}")
    result = anyio.run(Probe().run, backend=backend)
    result["backend"] = backend
    emit(result)


if __name__ == "__main__":
    main()
