"""Several event loops in several threads, and an interpreter that exits mid-traffic."""

from __future__ import annotations

import gc
import json
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import CONTAINER, REPO, VM, run_child

from aiohcs import testing
from aiohcs._native import lib
from aiohcs.events import SystemExited
from aiohcs.system import ComputeSystem


def _lifecycle_in_a_thread(backend: str, prefix: str, n: int, out: dict[str, Any]) -> None:
    async def one(i: int) -> str:
        async with await ComputeSystem.create(f"{prefix}-{i}", VM) as system:
            stream = system.events()
            await system.start()
            await system.pause()
            await system.resume()
            await system.terminate()
            events = [e async for e in stream]
            assert isinstance(events[-1], SystemExited)
            status = await system.wait()
            return str(status.exit_type)

    async def main() -> None:
        results: list[str] = []

        async def run(i: int) -> None:
            results.append(await one(i))

        async with anyio.create_task_group() as tg:
            for i in range(n):
                tg.start_soon(run, i)
        out["results"] = results

    try:
        anyio.run(main, backend=backend)
    except BaseException as exc:  # reported by the test
        out["error"] = exc


@pytest.mark.parametrize(
    "backends", [("asyncio", "trio"), ("asyncio", "asyncio"), ("trio", "trio")]
)
def test_two_loops_in_two_threads(backends: tuple[str, str]) -> None:
    outs: list[dict[str, Any]] = [{}, {}]
    threads = [
        threading.Thread(target=_lifecycle_in_a_thread, args=(backend, f"t{k}", 20, out))
        for k, (backend, out) in enumerate(zip(backends, outs, strict=True))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for out in outs:
        assert "error" not in out, out.get("error")
        assert out["results"] == ["ForcedExit"] * 20
    assert testing.counts().system_handles == 0


def test_a_system_belongs_to_its_loop() -> None:
    """Using a system from another loop fails clearly instead of misrouting callbacks."""
    holder: dict[str, Any] = {}

    async def create() -> None:
        holder["system"] = await ComputeSystem.create("owned", CONTAINER)

    anyio.run(create, backend="asyncio")

    async def use() -> None:
        with pytest.raises(RuntimeError, match="another event loop"):
            await holder["system"].start()

    try:
        anyio.run(use, backend="trio")
    finally:
        # The creating loop is gone (its bridge closed), so nothing can await the close
        # there any more: the finalizer has a worker close the handle, with a warning.
        with pytest.warns(ResourceWarning):
            holder.clear()

        async def cleanup() -> None:
            async with await ComputeSystem.open("owned") as again:
                await again.terminate()

        anyio.run(cleanup, backend="asyncio")


def _drop(holder: list[ComputeSystem]) -> None:
    """Forget the last references (some may sit in reference cycles of the dead loop)."""
    holder.clear()
    gc.collect()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("close_first", [False, True], ids=["handle-open", "handle-closed"])
def test_loop_ends_with_operations_in_flight(backend: str, close_first: bool) -> None:
    """The loop goes away while HCS still works on its operations: the C side closes them."""
    before_ids = lib.aiohcs_registered_count()
    holder: list[ComputeSystem] = []

    async def main() -> None:
        system = await ComputeSystem.create("inflight", VM)
        holder.append(system)
        testing.delay("HcsStartComputeSystem", completion_ms=300)
        testing.delay("HcsGetComputeSystemProperties", completion_ms=300)
        async with anyio.create_task_group() as tg:
            tg.start_soon(system.start)
            tg.start_soon(system.properties)
            await anyio.sleep(0.05)
            assert testing.counts().pending_operations == 2
            tg.cancel_scope.cancel()
        if close_first:
            await system.aclose()

    anyio.run(main, backend=backend)
    assert lib.aiohcs_registered_count() == before_ids  # the loop's ids are gone
    deadline = time.monotonic() + 5
    while testing.counts().operations and time.monotonic() < deadline:
        time.sleep(0.01)
    assert testing.counts().operations == 0  # the late completions were closed in C

    async def cleanup() -> None:
        testing.delay("*")
        async with await ComputeSystem.open("inflight") as system:
            assert (await system.properties()).state == "Running"  # the work went on
            await system.terminate()

    anyio.run(cleanup, backend=backend)
    if not close_first:
        with pytest.warns(ResourceWarning):
            _drop(holder)


SCRIPT = textwrap.dedent(
    """
    import json, sys, threading, anyio
    from aiohcs import testing
    from aiohcs.system import ComputeSystem

    CONFIG = json.loads(sys.argv[2])

    def storm(stop):
        # Raise events from a plain thread: hcsim's workers keep calling the bridge's C
        # callback while the interpreter shuts down.
        while not stop.is_set():
            testing.raise_system_event("fin", 6)

    async def main():
        system = await ComputeSystem.create("fin", CONFIG)
        await system.start()
        stream = system.events()
        stop = threading.Event()
        threading.Thread(target=storm, args=(stop,), daemon=True).start()
        n = 0
        async for _ in stream:
            n += 1
            if n == 2000:
                break
        print("events", n, flush=True)
        # Leave with the system open, the storm running and events queued: the loop ends,
        # its queue is freed, late callbacks are dropped in C, the interpreter finalizes.

    anyio.run(main, backend=sys.argv[1])
    """
)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_interpreter_exits_while_callbacks_keep_coming(backend: str, tmp_path: Path) -> None:
    script = tmp_path / "fin.py"
    script.write_text(SCRIPT, encoding="utf-8")
    run = run_child(
        "-W",
        "ignore::ResourceWarning",
        str(script),
        backend,
        json.dumps(CONTAINER),
        timeout=60,
        cwd=REPO,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "events 2000" in run.stdout
    assert "Fatal Python error" not in run.stderr
