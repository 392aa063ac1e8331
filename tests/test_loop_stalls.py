"""The library never holds the event loop for long: what it does to keep the turns short.

Functional checks, not timings (those are in benchmarks/bench_loop_lag.py): a burst of
calls begins a budget per loop turn, teardown closes too, closes still happen whatever
cancels them while they wait for their turn, and the first call of a process loads
pydantic and the schema models in a worker thread, not on the loop.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from helpers import heavy_modules, run_import_watch

from aiohcs import _bridge, testing
from aiohcs._bridge import _calls, current_bridge
from aiohcs.system import ComputeSystem

pytestmark = pytest.mark.skipif(not testing.is_available(), reason="needs hcsim")

CONFIG: dict[str, Any] = {
    "SchemaVersion": {"Major": 2, "Minor": 1},
    "Container": {},
    "ShouldTerminateOnLastHandleClosed": True,
}


async def _per_turn(
    counter: list[int], calls: list[Callable[[], Coroutine[Any, Any, Any]]]
) -> list[int]:
    """Start every call in one turn of the loop; ``counter[0]`` at each turn until all are done.

    A probe task reads the counter once per turn (one checkpoint per turn) while the tasks run.
    """
    done = anyio.Event()
    seen: list[int] = []

    async def probe() -> None:
        while not done.is_set():
            await anyio.lowlevel.checkpoint()
            seen.append(counter[0])

    async with anyio.create_task_group() as tg:
        tg.start_soon(probe)
        await anyio.lowlevel.checkpoint()
        async with anyio.create_task_group() as burst:
            for call in calls:  # all started in one turn of the loop
                burst.start_soon(call)
        done.set()
    return seen


def _steps(seen: list[int]) -> list[int]:
    return [b - a for a, b in zip([0, *seen], seen, strict=False)]


@pytest.mark.anyio
async def test_a_burst_of_1000_properties_calls_begins_a_budget_per_turn() -> None:
    n = 1000
    async with await ComputeSystem.create("burst", CONFIG) as system:
        await system.properties()  # (the first call of the process is not the point)
        bridge = current_bridge()
        begun = [0]
        register = bridge.register_operation

        def counting(target: Any, flags: int = 0) -> Any:
            begun[0] += 1
            return register(target, flags)

        bridge.register_operation = counting  # type: ignore[method-assign]
        try:
            seen = await _per_turn(begun, [system.properties] * n)
        finally:
            del bridge.register_operation
        assert begun[0] == n
        # Operations begun between two turns of the probe: a budget per turn (trio runs
        # the tasks of a batch in random order, so the probe may see parts of two turns).
        assert max(_steps(seen)) <= 2 * _bridge._admission._ADMIT_BUDGET
        assert len(seen) >= n // (2 * _bridge._admission._ADMIT_BUDGET)


@pytest.mark.anyio
async def test_a_burst_of_opens_begins_a_budget_per_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    n = 200
    async with await ComputeSystem.create("opened", CONFIG):
        begun = [0]
        submit = _calls.submit_native

        def counting(kind: int, *args: Any, **kwargs: Any) -> None:
            if kind == _bridge.CALL_OPEN_SYSTEM:
                begun[0] += 1
            submit(kind, *args, **kwargs)

        monkeypatch.setattr(_calls, "submit_native", counting)
        handles: list[ComputeSystem] = []

        async def open_one() -> None:
            handles.append(await ComputeSystem.open("opened"))

        seen = await _per_turn(begun, [open_one] * n)
        async with anyio.create_task_group() as teardown:
            for handle in handles:
                teardown.start_soon(handle.aclose)
    assert begun[0] == n
    assert max(_steps(seen)) <= 2 * _bridge._admission._ADMIT_BUDGET


@pytest.mark.anyio
async def test_a_teardown_of_many_systems_begins_a_budget_of_closes_per_turn() -> None:
    n = 200
    systems = [await ComputeSystem.create(f"t{i}", CONFIG) for i in range(n)]
    bridge = current_bridge()
    closing = [0]
    release = ComputeSystem._release

    async def counting_release(self: ComputeSystem) -> None:
        closing[0] += 1
        await release(self)

    ComputeSystem._release = counting_release  # type: ignore[method-assign,assignment]
    try:
        seen = await _per_turn(closing, [system.aclose for system in systems])
    finally:
        ComputeSystem._release = release  # type: ignore[method-assign]
    assert closing[0] == n
    assert all(system.closed for system in systems)
    assert max(_steps(seen)) <= 2 * _bridge._admission._ADMIT_BUDGET
    assert not bridge.admission.waiting


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # asyncio's own cancellation
async def test_closes_cancelled_while_waiting_for_their_turn_still_close() -> None:
    """``task.cancel()`` reaches through anyio's shield; the close is made all the same."""
    systems = [await ComputeSystem.create(f"c{i}", CONFIG) for i in range(100)]
    tasks = [asyncio.ensure_future(system.aclose()) for system in systems]
    for _ in range(10):  # every close has begun (in a task of its own); most wait for admission
        await asyncio.sleep(0)
        if current_bridge().admission.waiting:
            break
    assert current_bridge().admission.waiting
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert any(isinstance(r, asyncio.CancelledError) for r in results)
    for _ in range(200):  # (the leak check of the fixture counts the handles too)
        if testing.counts().system_handles == 0:
            break
        await asyncio.sleep(0.01)
    assert testing.counts().system_handles == 0


@pytest.mark.anyio
async def test_a_failed_warm_up_leaves_the_models_to_load_where_needed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aiohcs import _documents

    def broken() -> None:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(_bridge._warmup, "_schema_ready", False)
    monkeypatch.setattr(_documents, "warm_up", broken)
    async with await ComputeSystem.create("warm", CONFIG) as system:
        assert (await system.properties()).state == "Created"
    assert _bridge._warmup._schema_ready  # tried once; not again on every call


@pytest.mark.anyio
async def test_no_thread_for_the_warm_up_leaves_the_models_to_load_where_needed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def no_thread(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(_bridge._warmup, "_schema_ready", False)
    monkeypatch.setattr(_bridge._warmup, "run_sync_on", no_thread)
    async with await ComputeSystem.create("nothread", CONFIG) as system:
        assert (await system.properties()).state == "Created"


def test_the_warm_up_keeps_the_switch_interval_of_concurrent_loops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two loops warming up at once: the interval ends as it began (one at a time)."""
    from aiohcs import _documents

    monkeypatch.setattr(_bridge._warmup, "_schema_ready", False)
    monkeypatch.setattr(_documents, "warm_up", lambda: time.sleep(0.05))  # (they overlap)
    before = sys.getswitchinterval()
    threads = [threading.Thread(target=_bridge._warmup._warm_up_schema) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sys.getswitchinterval() == before
    assert _bridge._warmup._schema_ready


FIRST_CALLS = """
config = {"SchemaVersion": {"Major": 2, "Minor": 1}, "Container": {}}

async def main():
    system = await aiohcs.ComputeSystem.create("first", config)
    await system.start()
    assert (await system.properties()).state == "Running"
    await system.terminate()
    await system.wait()
    await system.aclose()

anyio.run(main, backend=sys.argv[1])
report = {}
"""


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_first_call_loads_pydantic_and_the_models_off_the_loop(backend: str) -> None:
    result = run_import_watch(FIRST_CALLS, backend)
    assert "pydantic" in result["all"]
    assert "aiohcs.schema._base" in result["all"]
    assert heavy_modules(result["on_loop"]) == []
