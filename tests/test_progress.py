"""Operations with progress (``system.tracked``): progress events, outcome, errors, cancellation.

Every test runs on asyncio and trio; the ``hcsim`` fixture checks that nothing is left
behind (operations, handles, documents). hcsim sends progress at each quarter of an
operation whose completion takes at least 10 ms (hcsim/README.md, "The newest SDK").
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from helpers import state_of

from aiohcs import testing
from aiohcs.errors import HandleClosedError, InvalidState, UnsupportedOnThisHost
from aiohcs.events import OperationProgress
from aiohcs.progress import TrackedOperation
from aiohcs.system import ComputeSystem

pytestmark = pytest.mark.anyio


async def test_tracked_start_reports_progress(vm: ComputeSystem) -> None:
    with testing.delay("HcsStartComputeSystem", completion_ms=60):
        async with vm.tracked.start() as op:
            updates = [update async for update in op.progress()]
        assert op.done
    assert [u.percent for u in updates] == [25.0, 50.0, 75.0]
    assert all(isinstance(u, OperationProgress) for u in updates)
    assert {u.operation for u in updates} == {"Start"}
    assert op.latest is updates[-1]
    assert await state_of(vm) == "Running"
    # The outcome stays: waiting again gives it again, a new stream replays every update.
    assert await op.wait() is None
    assert [u.percent async for u in op.progress()] == [25.0, 50.0, 75.0]


async def test_await_tracked_operation(vm: ComputeSystem, tmp_path: Path) -> None:
    await vm.tracked.start()
    await vm.tracked.pause()
    assert await state_of(vm) == "Paused"
    with testing.delay("HcsSaveComputeSystem", completion_ms=40):
        await vm.tracked.save(tmp_path / "state.vmrs")
    await vm.tracked.resume()
    assert await state_of(vm) == "Running"


async def test_quick_operation_has_no_progress(vm: ComputeSystem) -> None:
    async with vm.tracked.start() as op:
        assert [u async for u in op.progress()] == []
    assert op.latest is None


async def test_error_at_completion(vm: ComputeSystem) -> None:
    # Pause before start: HCS refuses it when the operation completes.
    op = vm.tracked.pause()

    async def run() -> None:
        async with op:
            async for _ in op.progress():
                pass

    with pytest.raises(InvalidState) as info:
        await run()
    assert info.value.operation == "Pause"
    assert info.value.system_id == "vm1"
    with pytest.raises(InvalidState):
        await op.wait()


async def test_synchronous_failure_raises_on_entry(vm: ComputeSystem) -> None:
    testing.fail_next("HcsStartComputeSystem", InvalidState)
    op = vm.tracked.start()
    with pytest.raises(InvalidState):
        async with op:
            pytest.fail("the block must not run")
    assert not op.started
    with pytest.raises(RuntimeError, match="already started"):
        await op.begin()


async def test_misuse(vm: ComputeSystem) -> None:
    op = vm.tracked.start()
    with pytest.raises(RuntimeError, match="not been started"):
        op.progress()
    with pytest.raises(RuntimeError, match="not been started"):
        await op.wait()
    async with op:
        with pytest.raises(RuntimeError, match="already started"):
            await op.begin()
    assert "done" in repr(op)


async def test_missing_export_fails_before_c(vm: ComputeSystem) -> None:
    with testing.hide_export("HcsCreateOperationWithNotifications"):
        before = testing.counts()
        with pytest.raises(UnsupportedOnThisHost) as info:
            vm.tracked.start()
        assert "HcsCreateOperationWithNotifications" in str(info.value)
        assert testing.counts().operations == before.operations
    await vm.start()  # plain calls do not need it


async def test_cancel_inside_block_abandons_the_wait(vm: ComputeSystem) -> None:
    with testing.delay("HcsStartComputeSystem", completion_ms=200):
        with anyio.move_on_after(0.08):
            async with vm.tracked.start() as op:
                async for _ in op.progress():
                    pass
                pytest.fail("the progress must not end before the cancellation")
        assert op.done  # abandoned
        with pytest.raises(RuntimeError, match="abandoned"):
            await op.wait()
        # The work goes on: the start completes, and nothing is leaked (the fixture checks).
        await anyio.sleep(0.25)
    assert await state_of(vm) == "Running"


async def test_cancel_wait_only_stops_that_wait(vm: ComputeSystem) -> None:
    with testing.delay("HcsStartComputeSystem", completion_ms=100):
        async with vm.tracked.start() as op:
            with anyio.move_on_after(0.02):
                await op.wait()
            assert not op.done
        assert bool(op.done)  # (the block waited for it)
    assert await state_of(vm) == "Running"


async def test_cancel_while_waiting_for_admission(vm: ComputeSystem) -> None:
    with anyio.CancelScope() as scope:
        scope.cancel()
        async with vm.tracked.start():
            pytest.fail("the block must not run")
    assert await state_of(vm) == "Created"


async def test_close_resolves_tracked_operation(vm: ComputeSystem) -> None:
    with testing.delay("HcsStartComputeSystem", completion_ms=200):
        async with anyio.create_task_group() as tg:
            op = vm.tracked.start()
            await op.begin()
            seen: list[object] = []

            async def watch() -> None:
                seen.extend([u async for u in op.progress()])

            tg.start_soon(watch)
            await anyio.sleep(0.01)
            await vm.aclose()
            with pytest.raises(HandleClosedError):
                await op.wait()
        # The progress stream ended with the close.
        await anyio.sleep(0.25)  # (the start still completes; its completion is dropped)
    async with await ComputeSystem.open("vm1") as again:
        await again.terminate()


async def test_several_tasks_watch_one_operation(vm: ComputeSystem) -> None:
    results: list[list[float | None]] = []
    with testing.delay("HcsStartComputeSystem", completion_ms=60):
        async with vm.tracked.start() as op:

            async def watch() -> None:
                results.append([u.percent async for u in op.progress()])

            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(watch)
                tg.start_soon(op.wait)
    assert results == [[25.0, 50.0, 75.0]] * 3


async def test_modify_and_terminate_tracked(vm: ComputeSystem) -> None:
    await vm.start()
    op = vm.tracked.terminate()
    assert isinstance(op, TrackedOperation)
    assert op.operation == "Terminate"
    await op
    await vm.wait()


async def test_plain_operations_ask_for_no_progress(vm: ComputeSystem) -> None:
    # The plain path never makes an operation with notifications (nor needs the export).
    with testing.hide_export("HcsCreateOperationWithNotifications"):
        await vm.start()
        await vm.pause()
        await vm.resume()
    assert await state_of(vm) == "Running"


async def test_start_in_a_worker_thread(vm: ComputeSystem) -> None:
    # A host slow to accept calls: starts move to worker threads (StartCost); a
    # cancellation while the thread makes the call waits for it, then abandons the wait.
    from aiohcs._bridge import current_bridge

    cost = current_bridge().start_cost
    cost.average, cost.skipped = 1.0, 0
    try:
        with testing.delay("HcsStartComputeSystem", sync_ms=30, completion_ms=40):
            async with vm.tracked.start() as op:
                assert [u.percent async for u in op.progress()] == [25.0, 50.0, 75.0]
        assert await state_of(vm) == "Running"
        cost.average, cost.skipped = 1.0, 0
        with testing.delay("HcsPauseComputeSystem", sync_ms=30, completion_ms=40):
            with anyio.move_on_after(0.01):
                async with vm.tracked.pause():
                    pytest.fail("the block must not run")
            await anyio.sleep(0.1)  # (the pause completes; its completion is dropped)
        assert await state_of(vm) == "Paused"
    finally:
        cost.average = 0.0


async def test_operation_properties(vm: ComputeSystem) -> None:
    with testing.delay("HcsStartComputeSystem", completion_ms=100):
        async with vm.tracked.start() as op:
            props = await op.properties()
            assert props["Operation"] == "Start"
            assert "StartTimestamp" in props
            assert "EndTimestamp" not in props
    # Completed: the operation is closed, there is nothing more to ask.
    assert await op.properties() is None


async def test_properties_query_outlives_the_completion(vm: ComputeSystem) -> None:
    # A query still running when the operation completes keeps it open; the query's end
    # closes it (the fixture checks no operation is left).
    with (
        testing.delay("HcsStartComputeSystem", completion_ms=20),
        testing.delay("HcsGetOperationProperties", sync_ms=80),
    ):
        async with vm.tracked.start() as op:
            props = await op.properties()
            assert op.done
        assert props["Operation"] == "Start"
        assert "EndTimestamp" in props
    assert await op.properties() is None
    assert testing.counts().operations == 0


async def test_properties_need_the_export(vm: ComputeSystem) -> None:
    with testing.delay("HcsStartComputeSystem", completion_ms=30):
        async with vm.tracked.start() as op:
            with (
                testing.hide_export("HcsGetOperationProperties"),
                pytest.raises(UnsupportedOnThisHost),
            ):
                await op.properties()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_loop_end_during_a_query_keeps_the_operation_open(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The loop ends (its bridge shuts down) while a properties() query runs in a worker
    # thread; the operation completes after that. Its close (the release of the completion
    # nobody will take) must wait for the query: the query still finds it open.
    import time

    from helpers import VM

    from aiohcs import progress
    from aiohcs._bridge import BridgeClosedError, current_bridge

    outcome: list[object] = []
    query = progress._operation_properties

    def recorded(op: object) -> str | None:
        try:
            document = query(op)
        except Exception as exc:
            outcome.append(exc)
            raise
        outcome.append(document)
        return document

    monkeypatch.setattr(progress, "_operation_properties", recorded)
    state: dict[str, ComputeSystem] = {}

    async def main() -> None:
        system = state["system"] = await ComputeSystem.create("q", VM)
        op = system.tracked.start()
        await op.begin()

        async def ask() -> None:
            with pytest.raises(BridgeClosedError):
                await op.properties()

        async with anyio.create_task_group() as tg:
            tg.start_soon(ask)
            await anyio.sleep(0.02)  # the query waits in its worker
            current_bridge().shutdown()  # as at the loop's end

    with (
        testing.delay("HcsStartComputeSystem", completion_ms=40),
        testing.delay("HcsGetOperationProperties", sync_ms=150),
    ):
        anyio.run(main, backend=backend)
        deadline = time.monotonic() + 10
        while not outcome and time.monotonic() < deadline:
            time.sleep(0.01)
    assert len(outcome) == 1
    assert isinstance(outcome[0], str), outcome[0]  # (before: E_HANDLE, closed under it)
    assert '"Operation":"Start"' in outcome[0].replace(" ", "")
    deadline = time.monotonic() + 10
    while testing.counts().operations and time.monotonic() < deadline:
        time.sleep(0.01)
    assert testing.counts().operations == 0  # closed once the query ended

    async def clean() -> None:
        async with await ComputeSystem.open("q") as other:
            await other.terminate()
        await state["system"].aclose()

    anyio.run(clean, backend=backend)
