"""Cancellation storm: thousands of calls cancelled at random points by every path.

``python -m reliability._storm BACKEND OPS SEED`` runs ``OPS`` operations (lifecycle calls,
process starts, event iteration) on asyncio or trio, several at a time, each cancelled
at a random point (a delay, or a number of loop turns) by one of the backend's
cancellation paths, under random hcsim delays that change every round. It prints one
result document (see :func:`reliability._common.emit`) with the figures and every broken
contract it saw:

* ``hung``: a cancelled call still running :data:`HANG_SECONDS` after its cancellation;
* ``unexpected``: an exception outside aiohcs's error family;
* ``left_running``: a guest (host) process still alive after the call that started it
  returned (checked at the end of each round, while its system still runs);
* ``outlived_system``: a host process still alive after its system was terminated;
* ``leaks`` / ``leftover_processes``: what hcsim and /proc hold at the very end.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

import anyio
import anyio.abc
import anyio.lowlevel

from aiohcs import errors, testing
from aiohcs.process import Process
from aiohcs.system import ComputeSystem
from reliability._common import (
    CONTAINER,
    LINUX_VM,
    MEMORY_UPDATE,
    OP_VARIABLE,
    HostProcess,
    arm_deadline,
    describe_exception,
    emit,
    is_typed,
    kill_all,
    leaks_after_settling,
    leftover_processes,
    log,
    tag,
    tagged_processes,
)

T = TypeVar("T")

ANYIO_PATHS: Final = ("anyio.move_on_after", "anyio.fail_after", "anyio.CancelScope.cancel")
NATIVE_PATHS: Final = {
    # (asyncio.timeout is new in Python 3.11.)
    "asyncio": ("asyncio.wait_for", "asyncio.Task.cancel")
    + (("asyncio.timeout",) if hasattr(asyncio, "timeout") else ()),
    "trio": ("trio.move_on_after", "trio.fail_after", "trio.CancelScope.cancel"),
}
#: A call still running this long after its cancellation is reported as hung (the
#: contract is 1 s; the margin is for a loaded 2-core machine).
HANG_SECONDS: Final = 5.0
#: The storm stops early once this many calls hung (each holds a worker for
#: HANG_SECONDS; the contract is broken anyway, and CI time is bounded).
MAX_HUNG: Final = 24
#: Uncancelled set-up or clean-up of one operation taking this long is reported as hung.
STUCK_SECONDS: Final = 60.0
#: Operations running at once, and per round (the delays change between rounds).
CONCURRENCY: Final = 16
ROUND: Final = 500
#: Seconds a round-end scan waits for processes to go away.
SCAN_SETTLE: Final = 1.0

#: Operation kinds and their weights.
KINDS: Final = {
    "create": 1.0,
    "start": 1.0,
    "pause": 1.0,
    "resume": 1.0,
    "save": 0.5,
    "properties": 1.0,
    "modify": 1.0,
    "shutdown": 1.0,
    "terminate": 1.0,
    "open_process": 2.0,
    "run_process": 2.0,
    "stream_process": 2.0,
    "system_events": 1.0,
    "process_events": 1.0,
}
#: Guest commands: name -> (argv, weight). "orphan" leaves a background child behind
#: its exited shell (it is judged only once its system has been terminated).
COMMANDS: Final[dict[str, tuple[list[str], float]]] = {
    "true": (["true"], 2.0),
    "echo": (["sh", "-c", "echo out; echo err >&2"], 2.0),
    "sleep": (["sleep", "1000"], 3.0),
    "cat": (["cat"], 1.0),
    "tree": (["sh", "-c", "sleep 1000 & echo started; wait"], 1.0),
    "orphan": (["sh", "-c", "sleep 1000 & echo started"], 0.5),
}
#: Functions whose operations a round may slow down (completion delay, ms).
SLOWED: Final = (
    "HcsCreateComputeSystemInNamespace",
    "HcsStartComputeSystem",
    "HcsPauseComputeSystem",
    "HcsResumeComputeSystem",
    "HcsSaveComputeSystem",
    "HcsShutDownComputeSystem",
    "HcsTerminateComputeSystem",
    "HcsModifyComputeSystem",
    "HcsGetComputeSystemProperties",
    "HcsCreateProcess",
    "HcsTerminateProcess",
    "HcsGetProcessProperties",
)


@dataclass
class Op:
    """One operation of the storm and what became of it."""

    id: int
    kind: str
    path: str
    point: tuple[str, float]
    detail: str = ""
    started: float = 0.0
    cancel_at: float | None = None
    ended: float | None = None
    outcome: str = "running"
    error: str = ""

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary."""
        late = None
        if self.cancel_at is not None and self.ended is not None:
            late = round(self.ended - self.cancel_at, 4)
        return {
            "id": self.id,
            "kind": self.kind,
            "path": self.path,
            "point": f"{self.point[0]}={self.point[1]:g}",
            "detail": self.detail,
            "outcome": self.outcome,
            "late_s": late,
            "error": self.error,
        }


class Storm:
    """The storm on one backend."""

    def __init__(self, backend: str, total: int, seed: int, workdir: Path) -> None:
        self.backend = backend
        self.total = total
        self.seed = seed
        self.rng = random.Random(seed)
        self.workdir = workdir
        self.tag = tag()
        self.paths = (*ANYIO_PATHS, *NATIVE_PATHS[backend])
        self.ops: list[Op] = []
        self.shared: list[ComputeSystem] = []
        self.next_system = 0
        self.left_running: list[dict[str, Any]] = []
        self.outlived_system: list[dict[str, Any]] = []
        self.hung: list[Op] = []
        self.regimes: Counter[str] = Counter()
        self.tg: anyio.abc.TaskGroup | None = None

    # ------------------------------------------------------------ random choices

    def point(self, path: str) -> tuple[str, float]:
        """Where to cancel: after a delay (s) or, for cancel() paths, maybe after loop turns."""
        if path.endswith(".cancel") and self.rng.random() < 0.5:
            return ("turns", float(self.rng.randint(0, 40)))
        if self.rng.random() < 0.15:
            return ("t", 0.0)
        return ("t", math.exp(self.rng.uniform(math.log(0.0001), math.log(0.04))))

    def command(self) -> tuple[str, list[str]]:
        names = list(COMMANDS)
        name = self.rng.choices(names, weights=[COMMANDS[n][1] for n in names])[0]
        return name, COMMANDS[name][0]

    def new_id(self) -> str:
        self.next_system += 1
        return f"storm-{self.next_system}"

    # ------------------------------------------------------------ cancellation paths

    async def _cancel_later(self, op: Op, cancel: Callable[[], object]) -> None:
        kind, value = op.point
        if kind == "t":
            await anyio.sleep(value)
        else:
            for _ in range(int(value)):
                await anyio.lowlevel.checkpoint()
        op.cancel_at = time.monotonic()
        cancel()

    async def cancel(self, op: Op, call: Callable[[], Awaitable[T]]) -> T | None:
        """Run ``call()`` under ``op``'s cancellation; set ``op.outcome``; its result or None."""
        path, (_, seconds) = op.path, op.point
        try:
            if path == "anyio.move_on_after":
                op.cancel_at = time.monotonic() + seconds
                with anyio.move_on_after(seconds):
                    return self._done(op, await call())
                op.outcome = "cancelled"
            elif path == "anyio.fail_after":
                op.cancel_at = time.monotonic() + seconds
                try:
                    with anyio.fail_after(seconds):
                        return self._done(op, await call())
                except TimeoutError:
                    op.outcome = "cancelled"
            elif path in ("anyio.CancelScope.cancel", "trio.CancelScope.cancel"):
                return await self._scope_cancel(op, call, native=path.startswith("trio"))
            elif path == "trio.move_on_after":
                import trio

                op.cancel_at = time.monotonic() + seconds
                with trio.move_on_after(seconds):
                    return self._done(op, await call())
                op.outcome = "cancelled"
            elif path == "trio.fail_after":
                import trio

                op.cancel_at = time.monotonic() + seconds
                try:
                    with trio.fail_after(seconds):
                        return self._done(op, await call())
                except trio.TooSlowError:
                    op.outcome = "cancelled"
            elif path == "asyncio.wait_for":

                async def coroutine() -> T:
                    return await call()

                op.cancel_at = time.monotonic() + seconds
                try:
                    return self._done(op, await asyncio.wait_for(coroutine(), seconds))
                except (TimeoutError, asyncio.TimeoutError):  # (distinct before 3.11)
                    op.outcome = "cancelled"
            elif path == "asyncio.timeout":
                op.cancel_at = time.monotonic() + seconds
                try:
                    async with asyncio.timeout(seconds):  # type: ignore[attr-defined,unused-ignore]
                        return self._done(op, await call())
                except TimeoutError:
                    op.outcome = "cancelled"
            elif path == "asyncio.Task.cancel":
                return await self._task_cancel(op, call)
            else:
                raise AssertionError(f"unknown path {path}")
        except Exception as exc:
            op.outcome = "typed_error" if is_typed(exc) else "unexpected"
            op.error = describe_exception(exc)
        return None

    def _done(self, op: Op, value: T) -> T:
        op.outcome = "completed"
        return value

    async def _scope_cancel(
        self, op: Op, call: Callable[[], Awaitable[T]], *, native: bool
    ) -> T | None:
        if native:
            import trio

            scope: Any = trio.CancelScope()
        else:
            scope = anyio.CancelScope()
        result: T | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._cancel_later, op, scope.cancel)
            with scope:
                result = self._done(op, await call())
            tg.cancel_scope.cancel()
        if scope.cancelled_caught:
            op.outcome = "cancelled"
        return result

    async def _task_cancel(self, op: Op, call: Callable[[], Awaitable[T]]) -> T | None:
        async def coroutine() -> T:
            return await call()

        task = asyncio.get_running_loop().create_task(coroutine())
        kind, value = op.point
        if kind == "t":
            await asyncio.wait([task], timeout=value)
        else:
            for _ in range(int(value)):
                if task.done():
                    break
                await asyncio.sleep(0)
        if not task.done():
            op.cancel_at = time.monotonic()
            task.cancel()
        try:
            return self._done(op, await task)
        except asyncio.CancelledError:
            if not task.cancelled():
                raise
            op.outcome = "cancelled"
        return None

    # ------------------------------------------------------------ set-up and clean-up

    async def fresh(self, config: dict[str, Any], state: str) -> ComputeSystem:
        system = await ComputeSystem.create(self.new_id(), config)
        try:
            if state in ("Running", "Paused"):
                await system.start()
            if state == "Paused":
                await system.pause()
        except BaseException:
            await self.finish(system)
            raise
        return system

    async def finish(self, system: ComputeSystem) -> None:
        with anyio.CancelScope(shield=True):
            if system.exit_event is None and not system.closed:
                with contextlib.suppress(errors.HcsError):
                    await system.terminate()
            await system.aclose()

    async def finish_process(self, proc: Process) -> None:
        with anyio.CancelScope(shield=True):
            with contextlib.suppress(errors.HcsError):
                await proc.kill()
            await proc.aclose()

    # ------------------------------------------------------------ operations

    async def lifecycle(self, op: Op) -> None:
        kind = op.kind
        if kind == "create":
            config = self.rng.choice([CONTAINER, LINUX_VM])
            created = await self.cancel(op, lambda: ComputeSystem.create(self.new_id(), config))
            if created is not None:
                await self.finish(created)
            return
        if kind == "properties" and self.rng.random() < 0.5:
            shared = self.rng.choice(self.shared)
            await self.cancel(op, lambda: shared.properties())
            return
        state = {
            "start": "Created",
            "resume": "Paused",
            "save": "Paused",
            "properties": self.rng.choice(["Created", "Running", "Paused"]),
        }.get(kind, "Running")
        config = LINUX_VM if kind == "modify" else self.rng.choice([CONTAINER, LINUX_VM])
        op.detail = f"from {state}"
        system = await self.fresh(config, state)
        try:
            calls: dict[str, Callable[[], Awaitable[object]]] = {
                "start": system.start,
                "pause": system.pause,
                "resume": system.resume,
                "save": lambda: system.save(self.workdir / f"{system.id}.vmrs"),
                "properties": system.properties,
                "modify": lambda: system.modify(MEMORY_UPDATE),
                "shutdown": system.shutdown,
                "terminate": system.terminate,
            }
            await self.cancel(op, calls[kind])
        finally:
            await self.finish(system)
            with contextlib.suppress(FileNotFoundError):
                (self.workdir / f"{system.id}.vmrs").unlink()

    async def process_call(self, op: Op) -> None:
        system = self.rng.choice(self.shared)
        name, argv = self.command()
        engine = self.rng.choice(["fd", "thread"])
        env = {OP_VARIABLE: str(op.id)}
        op.detail = f"{name} engine={engine}"
        if op.kind == "run_process":
            data = b"probe\n" if name == "cat" else None
            await self.cancel(
                op,
                lambda: system.run_process(
                    argv, input=data, check=False, env=env, pipe_engine=engine
                ),
            )
        elif op.kind == "stream_process":
            await self.cancel(
                op,
                lambda: system.stream_process(
                    argv, lambda _n, _c: None, env=env, pipe_engine=engine
                ),
            )
        elif self.rng.random() < 0.5:
            op.detail += " start"
            proc = await self.cancel(
                op, lambda: system.open_process(argv, env=env, pipe_engine=engine)
            )
            if proc is not None:
                await self.finish_process(proc)
        else:
            op.detail += " start+wait"

            async def start_and_wait() -> int:
                async with await system.open_process(argv, env=env, pipe_engine=engine) as proc:
                    return await proc.wait()

            await self.cancel(op, start_and_wait)

    async def system_events(self, op: Op) -> None:
        system = await self.fresh(self.rng.choice([CONTAINER, LINUX_VM]), "Running")
        pauses = [self.rng.uniform(0, 0.02) for _ in range(3)]
        stream = system.events()

        async def drive() -> None:
            with contextlib.suppress(errors.HcsError):
                await anyio.sleep(pauses[0])
                await system.pause()
                await anyio.sleep(pauses[1])
                await system.resume()
                await anyio.sleep(pauses[2])
                await system.terminate()

        try:
            await self.consume_cancelled(op, stream, drive)
        finally:
            await self.finish(system)

    async def process_events(self, op: Op) -> None:
        system = self.rng.choice(self.shared)
        pause = self.rng.uniform(0, 0.03)
        op.detail = "sleep"
        proc = await system.open_process(
            ["sleep", "1000"], env={OP_VARIABLE: str(op.id)}, stdin=None
        )
        stream = proc.events()

        async def drive() -> None:
            await anyio.sleep(pause)
            with contextlib.suppress(errors.HcsError):
                await proc.kill()

        try:
            await self.consume_cancelled(op, stream, drive)
        finally:
            await self.finish_process(proc)

    async def consume_cancelled(
        self, op: Op, stream: Any, drive: Callable[[], Coroutine[Any, Any, None]]
    ) -> None:
        """Consume ``stream`` under ``op``'s cancellation while ``drive()`` runs; close it."""

        async def consume() -> int:
            return len([event async for event in stream])

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(drive)
                await self.cancel(op, consume)
        finally:
            with anyio.CancelScope(shield=True):
                await stream.aclose()

    async def run_op(self, op: Op, done: anyio.Event) -> None:
        op.started = time.monotonic()
        try:
            if op.kind in ("open_process", "run_process", "stream_process"):
                await self.process_call(op)
            elif op.kind == "system_events":
                await self.system_events(op)
            elif op.kind == "process_events":
                await self.process_events(op)
            else:
                await self.lifecycle(op)
        except Exception as exc:  # set-up or clean-up (uncancelled) failed
            op.outcome = "unexpected"
            op.error = "set-up/clean-up: " + describe_exception(exc)
        finally:
            if op.ended is None:
                op.ended = time.monotonic()
            done.set()

    # ------------------------------------------------------------ rounds

    async def watch(self, op: Op, done: anyio.Event) -> None:
        """Wait for ``op``; give up on it (recorded as hung) once it is clearly stuck."""
        while True:
            with anyio.move_on_after(0.25):
                await done.wait()
                return
            now = time.monotonic()
            late = op.cancel_at is not None and now - op.cancel_at > HANG_SECONDS
            if late or now - op.started > STUCK_SECONDS:
                op.outcome = "hung"
                op.ended = now
                self.hung.append(op)
                log(f"hung: {op.describe()}")
                return

    async def worker(self, batch: list[Op]) -> None:
        assert self.tg is not None
        while batch:
            op = batch.pop()
            done = anyio.Event()
            self.tg.start_soon(self.run_op, op, done)
            await self.watch(op, done)

    def set_regime(self) -> list[testing.Override]:
        roll = self.rng.random()
        if roll < 0.35:
            self.regimes["none"] += 1
            return []
        if roll < 0.6:
            self.regimes["sync HcsSetProcessCallback"] += 1
            return [testing.delay("HcsSetProcessCallback", sync_ms=self.rng.randint(1, 8))]
        self.regimes["completion delays"] += 1
        chosen = self.rng.sample(SLOWED, self.rng.randint(1, 4))
        return [testing.delay(f, completion_ms=self.rng.randint(1, 15)) for f in chosen]

    async def scan(self, finished: set[str], settle: float) -> list[HostProcess]:
        """Tagged processes of ``finished`` operations still alive after ``settle`` s."""
        deadline = time.monotonic() + settle
        while True:
            alive = [p for p in tagged_processes(self.tag) if p.op in finished]
            if not alive or time.monotonic() >= deadline:
                return alive
            await anyio.sleep(0.05)

    def attribute(self, processes: list[HostProcess], where: list[dict[str, Any]]) -> None:
        by_id = {str(op.id): op for op in self.ops}
        for proc in processes:
            entry: dict[str, Any] = {"command": proc.command, "pid": proc.pid}
            op = by_id.get(proc.op or "")
            if op is not None:
                entry.update(op.describe())
            where.append(entry)
        kill_all(processes)

    async def round(self, number: int, size: int) -> None:
        self.shared = [await self.fresh(LINUX_VM, "Running") for _ in range(2)]
        overrides = self.set_regime()
        first = len(self.ops)
        for i in range(size):
            path = self.rng.choice(self.paths)
            kind = self.rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
            self.ops.append(Op(first + i, kind, path, self.point(path)))
        batch = list(reversed(self.ops[first:]))
        began = time.monotonic()
        try:
            async with anyio.create_task_group() as workers:
                for _ in range(CONCURRENCY):
                    workers.start_soon(self.worker, batch)
        finally:
            for override in overrides:
                override.restore()
        round_ops = self.ops[first:]
        ran = time.monotonic() - began
        finished = {str(op.id) for op in round_ops if op.outcome != "hung"}
        # The calls have returned: the processes they started must be gone (the shells of
        # "orphan" commands exit by themselves; their background child is judged below).
        orphans = {str(op.id) for op in round_ops if op.detail.startswith("orphan")}
        alive = await self.scan(finished, SCAN_SETTLE)
        self.attribute(
            [p for p in alive if not (p.op in orphans and p.command.startswith("sleep"))],
            self.left_running,
        )
        for system in self.shared:
            await self.finish(system)
        self.shared = []
        # The systems are terminated: nothing they ran may survive them.
        self.attribute(await self.scan(finished, SCAN_SETTLE), self.outlived_system)
        log(
            f"{self.backend} round {number}: {len(self.ops)} ops, hung {len(self.hung)}, "
            f"left running {len(self.left_running)}, outlived {len(self.outlived_system)}; "
            f"calls {ran:.1f} s, scans and clean-up {time.monotonic() - began - ran:.1f} s"
        )

    async def run(self) -> dict[str, Any]:
        started = time.monotonic()
        async with anyio.create_task_group() as tg:
            self.tg = tg
            number = 0
            while len(self.ops) < self.total and len(self.hung) < MAX_HUNG:
                number += 1
                await self.round(number, min(ROUND, self.total - len(self.ops)))
            result = await self.finale(time.monotonic() - started)
            if self.hung:
                # The hung calls cannot be left (they wait inside shields): report and go.
                emit(result)
                os._exit(0)
            tg.cancel_scope.cancel()
        return result

    async def finale(self, seconds: float) -> dict[str, Any]:
        leaks, final = await leaks_after_settling()
        deadline = time.monotonic() + 5.0
        left = leftover_processes(self.tag)
        while left and time.monotonic() < deadline:
            await anyio.sleep(0.05)
            left = leftover_processes(self.tag)
        kill_all(left)
        cancelled = [op for op in self.ops if op.outcome == "cancelled" and op.cancel_at]
        lateness = sorted(max(0.0, (op.ended or 0) - (op.cancel_at or 0)) for op in cancelled)
        outcomes: dict[str, Counter[str]] = {}
        for op in self.ops:
            outcomes.setdefault(op.path, Counter())[op.outcome] += 1
        errors_seen = Counter(op.error.split(":")[0] for op in self.ops if op.error)
        return {
            "backend": self.backend,
            "seed": self.seed,
            "seconds": round(seconds, 2),
            "ops": len(self.ops),
            "kinds": dict(Counter(op.kind for op in self.ops)),
            "outcomes": {path: dict(c) for path, c in outcomes.items()},
            "regimes": dict(self.regimes),
            "cancelled": len(cancelled),
            "late_max_s": round(lateness[-1], 4) if lateness else 0.0,
            "late_p99_s": round(lateness[int(len(lateness) * 0.99)], 4) if lateness else 0.0,
            "over_1s": sum(1 for x in lateness if x > 1.0),
            "over_1s_examples": [
                op.describe()
                for op in cancelled
                if (op.ended or 0) - (op.cancel_at or 0) > 1.0 and op.outcome != "hung"
            ][:8],
            "errors": dict(errors_seen),
            "hung": [op.describe() for op in self.hung],
            "unexpected": [op.describe() for op in self.ops if op.outcome == "unexpected"],
            "left_running": self.left_running,
            "outlived_system": self.outlived_system,
            "leaks": leaks,
            "final_counts": dataclasses.asdict(final),
            "leftover_processes": [p.describe() for p in left],
        }


def main() -> None:
    """Entry point: BACKEND OPS SEED."""
    backend, total, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    arm_deadline()
    log(f"storm on {backend}: {total} operations, seed {seed}")
    with tempfile.TemporaryDirectory(prefix="aiohcs-storm-") as workdir:
        storm = Storm(backend, total, seed, Path(workdir))
        result = anyio.run(storm.run, backend=backend)
    emit(result)


if __name__ == "__main__":
    main()
