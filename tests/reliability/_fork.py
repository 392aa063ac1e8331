"""fork: a child forked while aiohcs is busy gets a working emulator or a clear error.

``python -m reliability._fork BACKEND`` starts a system, a guest process, an event
iterator and a task calling ``properties()`` in a loop, then forks from a worker thread
(so that the child has no running event loop). The child runs a fresh event loop of the
same backend and makes a first call, then, if that worked, a whole life cycle with a
process. The parent waits at most :data:`CHILD_SECONDS` for it (then kills it). Then the
parent checks that its own objects still work and that nothing leaks.

Contract: the child's first call answers within :data:`ANSWER_SECONDS`, with a result
(and the life cycle works) or with an error that says it is about fork; the child exits
by itself; the parent is unaffected.
"""

from __future__ import annotations

import contextlib
import dataclasses
import faulthandler
import json
import os
import select
import signal
import sys
import time
from typing import Any, Final

import anyio
import anyio.to_thread

from aiohcs import testing
from aiohcs.system import ComputeSystem, enumerate_systems
from reliability._common import (
    LINUX_VM,
    describe_exception,
    emit,
    is_typed,
    leaks_after_settling,
    leftover_processes,
    log,
    tag,
)

CHILD_SECONDS: Final = 20.0
ANSWER_SECONDS: Final = 5.0


#: Written to the pipe by the child as it gets through each stage (before its report).
STAGES: Final = {
    b"F": "back from fork()",
    b"W": "watchdog armed",
    b"L": "event loop running",
    b"1": "first call answered",
}
_stage_fd = -1


def _stage(marker: bytes) -> None:
    os.write(_stage_fd, marker)


async def in_child() -> dict[str, Any]:
    """The forked child's attempts (on a fresh event loop)."""
    _stage(b"L")
    out: dict[str, Any] = {}
    started = time.monotonic()
    try:
        with anyio.fail_after(ANSWER_SECONDS):
            await enumerate_systems()
        out["first_call"] = "ok"
        _stage(b"1")
    except TimeoutError:
        out["first_call"] = f"no answer in {ANSWER_SECONDS} s"
    except Exception as exc:
        out["first_call"] = "error"
        out["error"] = describe_exception(exc)
        out["typed"] = is_typed(exc)
        out["mentions_fork"] = "fork" in str(exc).lower()
    out["first_seconds"] = round(time.monotonic() - started, 3)
    if out["first_call"] == "ok":
        try:
            with anyio.fail_after(10):
                async with await ComputeSystem.create("forked", LINUX_VM) as system:
                    await system.start()
                    done = await system.run_process(["echo", "child"])
                    out["run_process"] = done.stdout.decode() if done.stdout else None
                    await system.terminate()
            out["life_cycle"] = "ok"
        except TimeoutError:
            out["life_cycle"] = "no answer in 10 s"
        except Exception as exc:
            out["life_cycle"] = describe_exception(exc)
    return out


def _read_text(path: str) -> str:
    try:
        with open(path) as file:
            return file.read().strip()
    except OSError:
        return "?"


def fork_and_wait(backend: str) -> dict[str, Any]:
    """Fork (in a worker thread); run the child; wait for its report or kill it."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: only this thread exists here
        code = 0
        try:
            global _stage_fd
            _stage_fd = write_end
            _stage(b"F")  # back from fork() (its at-fork handlers ran)
            os.close(read_end)
            # Stuck for good (e.g. blocked in C): show where, then exit.
            faulthandler.dump_traceback_later(CHILD_SECONDS - 5, exit=True)
            _stage(b"W")
            # The parent's event loop set a signal wakeup fd: not the child's business.
            with contextlib.suppress(ValueError):
                signal.set_wakeup_fd(-1)
            report = anyio.run(in_child, backend=backend)
            os.write(write_end, json.dumps(report).encode())
        except BaseException as exc:
            with contextlib.suppress(BaseException):
                os.write(write_end, json.dumps({"crashed": describe_exception(exc)}).encode())
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    started = time.monotonic()
    data = b""
    status: int | None = None
    wchan, threads = "", 0
    try:
        while time.monotonic() - started < CHILD_SECONDS:
            ready, _, _ = select.select([read_end], [], [], 0.05)
            if ready:
                chunk = os.read(read_end, 65536)
                data += chunk
            done, status_now = os.waitpid(pid, os.WNOHANG)
            if done:
                status = status_now
                break
        if status is None:
            wchan = _read_text(f"/proc/{pid}/wchan")
            threads = len(os.listdir(f"/proc/{pid}/task"))
            os.kill(pid, signal.SIGKILL)
            status = os.waitpid(pid, 0)[1]
            killed = True
        else:
            killed = False
        with contextlib.suppress(OSError):
            while chunk := os.read(read_end, 65536):
                data += chunk
    finally:
        os.close(read_end)
    markers = data[: data.find(b"{")] if b"{" in data else data
    body = data[len(markers) :]
    returned = markers.startswith(b"F")
    outcome: dict[str, Any] = json.loads(body) if body else {}
    outcome["returned_from_fork"] = returned
    outcome["stage"] = STAGES.get(markers[-1:], "none") if markers else "none"
    if killed:
        outcome["killed_after_s"] = round(time.monotonic() - started, 2)
        outcome["stuck_in"] = {"wchan": wchan, "threads": threads}
    outcome["exit"] = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)
    outcome["seconds"] = round(time.monotonic() - started, 3)
    return outcome


async def run(backend: str) -> dict[str, Any]:
    system = await ComputeSystem.create("parent", LINUX_VM)
    await system.start()
    proc = await system.open_process(["sleep", "1000"])
    events: list[object] = []
    stop = anyio.Event()

    async def iterate() -> None:
        async for event in system.events():
            events.append(event)

    async def busy() -> None:
        while not stop.is_set():
            await system.properties()
            await anyio.sleep(0)

    parent: dict[str, Any] = {}
    async with anyio.create_task_group() as tg:
        tg.start_soon(iterate)
        tg.start_soon(busy)
        await anyio.sleep(0.05)
        child = await anyio.to_thread.run_sync(fork_and_wait, backend)
        stop.set()
        try:
            with anyio.fail_after(10):
                parent["process_running"] = not (await proc.properties()).exited
                done = await system.run_process(["echo", "parent"])
                parent["run_process"] = done.stdout.decode() if done.stdout else None
                parent["killed"] = await proc.kill()
                await proc.aclose()
                await system.terminate()
                await system.aclose()
        except Exception as exc:
            parent["error"] = describe_exception(exc)
    leaks, _ = await leaks_after_settling()
    parent["events_ended"] = True
    return {
        "backend": backend,
        "child": child,
        "parent": parent,
        "leaks": leaks,
        "counts": dataclasses.asdict(testing.counts()),
        "leftover_processes": [p.describe() for p in leftover_processes(tag())],
    }


def main() -> None:
    """Entry point: BACKEND.

    No faulthandler deadline here (the parent's timeout bounds this process): a child
    forked while faulthandler's watchdog thread waits would deadlock arming its own.
    """
    backend = sys.argv[1]
    log(f"fork on {backend}")
    emit(anyio.run(run, backend, backend=backend))


if __name__ == "__main__":
    main()
