"""Fault matrix: every public operation x sync/async failure of every HCS call x disconnect.

``python -m reliability._faults BACKEND`` runs each public operation of aiohcs once for
every faultable HCS export (``aiohcs.testing.faultable_functions()``) in both modes of
``fail_next`` (the call fails / its operation completes with the failure), and twice
with the service connection dropping (before the call, and while its operation is
pending). Around each case, iterators over the events of the system (and of the process)
are running. Contract per case: the call returns or raises an aiohcs error (never
anything else, never a hang), the iterators end once the objects are closed, and hcsim
holds nothing afterwards.

A fault in an export the operation does not call leaves it unaffected ("unaffected"),
as does one it absorbs; every operation that calls HCS must have been failed by at least
one export in each mode.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import anyio
import anyio.abc

from aiohcs import errors, testing
from aiohcs.access import grant_vm_access
from aiohcs.events import EventStream
from aiohcs.process import Process
from aiohcs.service import modify_service_settings, service_properties, submit_wer_report
from aiohcs.system import ComputeSystem, enumerate_systems
from reliability._common import (
    LINUX_VM,
    MEMORY_UPDATE,
    arm_deadline,
    describe_exception,
    emit,
    is_typed,
    leaks_after_settling,
    leftover_processes,
    log,
    tag,
)

#: The HRESULT injected (E_UNEXPECTED: no code path of aiohcs treats it specially).
INJECTED: Final = 0x8000FFFF
#: A call neither returning nor raising within this many seconds is a failure.
CALL_SECONDS: Final = 10.0
#: Seconds the iterators get to end after the objects are closed.
ITERATOR_SECONDS: Final = 10.0
#: A case (set-up, call, clean-up) still running after this long is abandoned as hung.
CASE_SECONDS: Final = 60.0
#: The matrix stops after this many hung cases (each costs CASE_SECONDS).
MAX_HUNG: Final = 2


@dataclass
class Context:
    """What a case set up, and what its call produced (all closed at the end)."""

    workdir: Path
    saved: Path
    system: ComputeSystem | None = None
    proc: Process | None = None
    owned: list[ComputeSystem | Process] = field(default_factory=list)
    streams: list[tuple[str, EventStream]] = field(default_factory=list)
    ended: dict[str, bool] = field(default_factory=dict)
    started: dict[str, bool] = field(default_factory=dict)
    seen: dict[str, list[str]] = field(default_factory=dict)

    @property
    def sys(self) -> ComputeSystem:
        assert self.system is not None
        return self.system

    @property
    def process(self) -> Process:
        assert self.proc is not None
        return self.proc

    def keep(self, value: object) -> object:
        if isinstance(value, (ComputeSystem, Process)):
            self.owned.append(value)
        return value


Call = Callable[[Context], Awaitable[object]]


def new_id() -> str:
    return f"fm-{uuid.uuid4().hex[:8]}"


async def _keep(ctx: Context, call: Awaitable[object]) -> object:
    return ctx.keep(await call)


async def _restore(ctx: Context) -> object:
    """A restore of the saved state, granted to the new VM first (hcsim README "VM access")."""
    vm_id = new_id()
    await grant_vm_access(vm_id, ctx.saved)
    return await _keep(ctx, ComputeSystem.restore(vm_id, LINUX_VM, ctx.saved))


def _cpu_group() -> dict[str, Any]:
    return {
        "PropertyType": "CpuGroup",
        "Settings": {
            "Operation": "CreateGroup",
            "OperationDetails": {
                "GroupId": str(uuid.uuid4()),
                "LogicalProcessorCount": 1,
                "LogicalProcessors": [0],
            },
        },
    }


@dataclass(frozen=True)
class Operation:
    """A public operation: its set-up, the call, and whether HCS faults can reach it."""

    name: str
    setup: str
    call: Call
    faults: bool = True
    #: Its HCS failures are absorbed by design (a close goes through whatever fails:
    #: Process.aclose, closing stdin, ComputeSystem.aclose).
    absorbs: bool = False


OPERATIONS: Final = (
    Operation("enumerate_systems", "running", lambda c: enumerate_systems()),
    Operation(
        "ComputeSystem.create", "none", lambda c: _keep(c, ComputeSystem.create(new_id(), LINUX_VM))
    ),
    Operation("ComputeSystem.open", "running", lambda c: _keep(c, ComputeSystem.open(c.sys.id))),
    Operation(
        "ComputeSystem.restore",
        "none",
        _restore,
    ),
    Operation("ComputeSystem.start", "created", lambda c: c.sys.start()),
    Operation("ComputeSystem.pause", "running", lambda c: c.sys.pause()),
    Operation("ComputeSystem.resume", "paused", lambda c: c.sys.resume()),
    Operation("ComputeSystem.save", "paused", lambda c: c.sys.save(c.workdir / f"{c.sys.id}.v")),
    Operation("ComputeSystem.shutdown", "running", lambda c: c.sys.shutdown()),
    Operation("ComputeSystem.terminate", "running", lambda c: c.sys.terminate()),
    Operation("ComputeSystem.crash", "running", lambda c: c.sys.crash()),
    Operation("ComputeSystem.modify", "running", lambda c: c.sys.modify(MEMORY_UPDATE)),
    Operation("ComputeSystem.properties", "running", lambda c: c.sys.properties("Memory")),
    Operation("ComputeSystem.wait", "running", lambda c: c.sys.wait(), faults=False),
    Operation("ComputeSystem.events", "running", lambda c: _drain(c.sys.events()), faults=False),
    Operation(
        "ComputeSystem.open_process[fd]",
        "running",
        lambda c: _keep(c, c.sys.open_process(["cat"], pipe_engine="fd")),
    ),
    Operation(
        "ComputeSystem.open_process[thread]",
        "running",
        lambda c: _keep(c, c.sys.open_process(["cat"], pipe_engine="thread")),
    ),
    Operation(
        "ComputeSystem.run_process",
        "running",
        lambda c: c.sys.run_process(["sh", "-c", "echo out; echo err >&2"], check=False),
    ),
    Operation(
        "ComputeSystem.stream_process",
        "running",
        lambda c: c.sys.stream_process(["echo", "out"], lambda _n, _c: None),
    ),
    Operation("Process.open", "process", lambda c: _keep(c, Process.open(c.sys, c.process.pid))),
    Operation("Process.send_signal", "process", lambda c: c.process.send_signal(signal.SIGTERM)),
    Operation("Process.terminate", "process", lambda c: c.process.terminate()),
    Operation("Process.kill", "process", lambda c: c.process.kill()),
    Operation("Process.resize_console", "console", lambda c: c.process.resize_console(30, 100)),
    Operation("Process.properties", "process", lambda c: c.process.properties()),
    Operation("Process.wait", "process", lambda c: c.process.wait(), faults=False),
    Operation("Process.events", "process", lambda c: _drain(c.process.events()), faults=False),
    Operation("Process.aclose", "cat", lambda c: c.process.aclose(), absorbs=True),
    Operation("Process.stdin.aclose", "cat", lambda c: _close_stdin(c.process), absorbs=True),
    Operation("ComputeSystem.aclose", "running", lambda c: c.sys.aclose(), absorbs=True),
    Operation("service_properties", "none", lambda c: service_properties()),
    Operation("modify_service_settings", "none", lambda c: modify_service_settings(_cpu_group())),
    Operation("submit_wer_report", "none", lambda c: submit_wer_report({"SystemId": "fm"})),
)


async def _close_stdin(proc: Process) -> None:
    assert proc.stdin is not None
    await proc.stdin.aclose()


async def _drain(stream: EventStream) -> int:
    async with stream:
        return len([event async for event in stream])


class Matrix:
    """The matrix on one backend."""

    def __init__(self, backend: str, workdir: Path) -> None:
        self.backend = backend
        self.workdir = workdir
        self.saved = workdir / "saved.vmrs"
        self.functions = sorted(testing.faultable_functions())
        self.cases = 0
        self.outcomes: dict[str, Counter[str]] = {}
        self.failed_by: dict[tuple[str, str], set[str]] = {}
        self.broken: list[dict[str, Any]] = []
        self.hung: list[str] = []
        self.disconnect_errors: Counter[str] = Counter()
        self.baseline: testing.Counts | None = None

    # ------------------------------------------------------------ set-up / clean-up

    async def make_saved(self) -> None:
        system = await ComputeSystem.create(new_id(), LINUX_VM)
        async with system:
            await system.start()
            await system.pause()
            await system.save(self.saved)
            await system.terminate()

    async def setup(self, kind: str) -> Context:
        ctx = Context(self.workdir, self.saved)
        if kind == "none":
            return ctx
        ctx.system = await ComputeSystem.create(new_id(), LINUX_VM)
        ctx.owned.append(ctx.system)
        if kind != "created":
            await ctx.system.start()
        if kind == "paused":
            await ctx.system.pause()
        if kind in ("process", "console", "cat"):
            command = ["cat"] if kind == "cat" else ["sleep", "1000"]
            console = (24, 80) if kind == "console" else None
            ctx.proc = await ctx.system.open_process(command, console=console)
            ctx.owned.append(ctx.proc)
        ctx.streams.append(("system", ctx.system.events()))
        if ctx.proc is not None:
            ctx.streams.append(("process", ctx.proc.events()))
        return ctx

    def start_consumers(self, tg: anyio.abc.TaskGroup, ctx: Context) -> None:
        """Start one task iterating over each of ``ctx.streams``.

        Each counts as not ended from now on, not from when its task first runs: a task
        may not have run yet when the case is over (trio runs the tasks of one scheduler
        batch in either order, so the case's task can call, clean up and reach
        :meth:`wait_iterators` before it), and a consumer that has not started has not
        seen its iterator end.
        """
        for name, stream in ctx.streams:
            ctx.ended[name] = False
            ctx.started[name] = False
            ctx.seen[name] = []
            tg.start_soon(self.consume, ctx, name, stream)

    async def consume(self, ctx: Context, name: str, stream: EventStream) -> None:
        ctx.started[name] = True
        with contextlib.suppress(Exception):
            async for event in stream:
                ctx.seen[name].append(type(event).__name__)
        ctx.ended[name] = True

    async def wait_iterators(self, ctx: Context) -> None:
        """Give the consumers :data:`ITERATOR_SECONDS` to see their iterators end."""
        with anyio.move_on_after(ITERATOR_SECONDS):
            while not all(ctx.ended.values()):
                await anyio.sleep(0.01)

    async def cleanup(self, ctx: Context) -> None:
        with anyio.CancelScope(shield=True), anyio.move_on_after(CALL_SECONDS):
            for obj in reversed(ctx.owned):
                if isinstance(obj, Process):
                    with contextlib.suppress(errors.HcsError):
                        await obj.kill()
                    await obj.aclose(wait=False)
                else:
                    if obj.exit_event is None and not obj.closed:
                        with contextlib.suppress(errors.HcsError):
                            await obj.terminate()
                    await obj.aclose()

    # ------------------------------------------------------------ one case

    async def case(self, op: Operation, column: str, function: str | None) -> None:
        ctx = await self.setup(op.setup)
        label = f"{op.name} | {column}" + (f" {function}" if function else "")
        outcome = "returned"
        error: BaseException | None = None
        async with anyio.create_task_group() as tg:
            self.start_consumers(tg, ctx)
            try:
                with anyio.fail_after(CALL_SECONDS):
                    error = await self.invoke(op, column, function, ctx)
            except TimeoutError:
                outcome = "no answer"
            finally:
                if function is not None:
                    testing.fail_next(function, INJECTED, count=0)
            await self.cleanup(ctx)
            await self.wait_iterators(ctx)
            tg.cancel_scope.cancel()
        if error is not None:
            outcome = "typed error" if is_typed(error) else "untyped error"
            if column.startswith("disconnect"):
                self.disconnect_errors[type(error).__name__] += 1
            hresult = getattr(error, "hresult", None)
            if function is not None and hresult is not None and hresult & 0xFFFFFFFF == INJECTED:
                self.failed_by.setdefault((op.name, column), set()).add(function)
        if column.startswith("disconnect"):
            testing.reset()  # reconnects the service (the caller's handles are closed)
        leaks, _ = await leaks_after_settling(self.baseline)
        if leaks:
            testing.reset()
        self.cases += 1
        self.outcomes.setdefault(op.name, Counter())[outcome] += 1
        open_iterators = [
            f"{name} (pending {stream.pending}, waiting {stream.waiting}, "
            f"ended {getattr(stream, '_ended', '?')}, got {ctx.seen.get(name)}, "
            f"consumer started {ctx.started.get(name)})"
            for name, stream in ctx.streams
            if not ctx.ended.get(name, False)
        ]
        if outcome in ("untyped error", "no answer") or leaks or open_iterators:
            self.broken.append(
                {
                    "case": label,
                    "outcome": outcome,
                    "error": describe_exception(error) if error else "",
                    "leaks": leaks,
                    "iterators_not_ended": open_iterators,
                }
            )

    async def invoke(
        self, op: Operation, column: str, function: str | None, ctx: Context
    ) -> BaseException | None:
        """Run the call under ``column``'s fault; the exception it raised, if any."""
        try:
            if function is not None:
                testing.fail_next(function, INJECTED, asynchronous=column == "async failure")
                ctx.keep(await op.call(ctx))
            elif column == "disconnect before":
                testing.disconnect_service()
                ctx.keep(await op.call(ctx))
            else:  # disconnect while the call's operation is pending
                raised: list[BaseException] = []
                with testing.delay("*", completion_ms=200):
                    async with anyio.create_task_group() as tg:

                        async def call() -> None:
                            try:
                                ctx.keep(await op.call(ctx))
                            except Exception as exc:
                                raised.append(exc)

                        tg.start_soon(call)
                        await anyio.sleep(0.02)
                        testing.disconnect_service()
                return raised[0] if raised else None
        except Exception as exc:
            if isinstance(exc, TimeoutError):
                raise
            return exc
        return None

    # ------------------------------------------------------------ the matrix

    async def guarded(self, op: Operation, column: str, function: str | None) -> bool:
        """Run one case; False if it hung (then it is abandoned)."""
        done = anyio.Event()

        async def run() -> None:
            try:
                await self.case(op, column, function)
            except Exception as exc:
                self.broken.append(
                    {
                        "case": f"{op.name} | {column} {function or ''}",
                        "outcome": "set-up or clean-up failed",
                        "error": describe_exception(exc),
                    }
                )
                testing.reset()
            finally:
                done.set()

        assert self.tg is not None
        self.tg.start_soon(run)
        with anyio.move_on_after(CASE_SECONDS):
            await done.wait()
            return True
        self.hung.append(f"{op.name} | {column} {function or ''}")
        log(f"hung: {self.hung[-1]}")
        # The hung case keeps what it holds: later cases count only what is beyond it.
        testing.reset()
        self.baseline = testing.counts()
        return False

    async def run(self) -> dict[str, Any]:
        started = time.monotonic()
        await self.make_saved()
        async with anyio.create_task_group() as tg:
            self.tg = tg
            for op in OPERATIONS:
                columns: list[tuple[str, str | None]] = []
                if op.faults:
                    for mode in ("sync failure", "async failure"):
                        columns += [(mode, f) for f in self.functions]
                columns += [("disconnect before", None), ("disconnect pending", None)]
                for column, function in columns:
                    if not await self.guarded(op, column, function) and len(self.hung) >= MAX_HUNG:
                        break
                if len(self.hung) >= MAX_HUNG:
                    break
                log(f"{op.name}: {dict(self.outcomes.get(op.name, {}))}")
            result = self.result(time.monotonic() - started)
            if self.hung:
                emit(result)
                os._exit(0)
            tg.cancel_scope.cancel()
        return result

    tg: anyio.abc.TaskGroup | None = None

    def result(self, seconds: float) -> dict[str, Any]:
        never_failed = [
            f"{op.name} | {mode}"
            for op in OPERATIONS
            if op.faults and not op.absorbs
            for mode in ("sync failure", "async failure")
            if not self.failed_by.get((op.name, mode))
        ]
        return {
            "backend": self.backend,
            "seconds": round(seconds, 2),
            "cases": self.cases,
            "operations": len(OPERATIONS),
            "functions": len(self.functions),
            "outcomes": {name: dict(c) for name, c in self.outcomes.items()},
            "failed_by": {f"{k[0]} | {k[1]}": sorted(v) for k, v in self.failed_by.items()},
            "injected_failures_seen": sum(len(v) for v in self.failed_by.values()),
            "never_failed": never_failed,
            "disconnect_errors": dict(self.disconnect_errors),
            "broken": self.broken,
            "hung": self.hung,
            "leftover_processes": [p.describe() for p in leftover_processes(tag())],
        }


def main() -> None:
    """Entry point: BACKEND."""
    backend = sys.argv[1]
    arm_deadline()
    log(f"fault matrix on {backend}")
    with tempfile.TemporaryDirectory(prefix="aiohcs-faults-") as workdir:
        result = anyio.run(Matrix(backend, Path(workdir)).run, backend=backend)
    emit(result)


if __name__ == "__main__":
    main()
