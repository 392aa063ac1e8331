"""``asyncio.run()`` ending while tasks still hold compute systems."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from aiohcs import testing
from aiohcs.system import ComputeSystem

pytestmark = pytest.mark.skipif(not testing.is_available(), reason="needs hcsim")

CONTAINER = {"SchemaVersion": {"Major": 2, "Minor": 1}, "Container": {}}


@pytest.mark.hcsim_leaves_systems  # the systems keep running; only their handles close
def test_handles_of_tasks_cancelled_at_the_end_of_asyncio_run_are_closed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    running: list[int] = []

    async def hold(i: int) -> None:
        async with await ComputeSystem.create(f"held-{i}", CONTAINER) as system:
            await system.start()
            running.append(i)
            await system.wait()

    tasks: list[asyncio.Task[None]] = []

    async def all_running() -> None:
        while len(running) < 8:
            await asyncio.sleep(0.01)

    async def main() -> None:
        tasks.extend(asyncio.ensure_future(hold(i)) for i in range(8))
        await asyncio.wait_for(all_running(), 30)  # (a fixed sleep was too short under Wine)
        await asyncio.sleep(0.05)  # every task is now waiting for its system to exit

    with caplog.at_level(logging.ERROR):
        asyncio.run(main())  # cancels the eight tasks, and aiohcs's drain task, in any order
    deadline = time.monotonic() + 5
    while testing.counts().system_handles and time.monotonic() < deadline:
        time.sleep(0.01)
    assert testing.counts().system_handles == 0
    assert testing.counts().systems == 8
    assert all(task.cancelled() for task in tasks)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_native_open_outliving_its_loop_closes_the_handle_it_produced() -> None:
    """``asyncio.run()`` ends while a bridge thread is inside HcsOpenComputeSystem.

    The loop's bridge shuts down (its queue is freed) before the open returns, so the
    call's report cannot be delivered: the C side closes the handle the open produced.
    """

    async def create() -> None:
        system = await ComputeSystem.create("outlived", CONTAINER)
        await system.aclose()

    pending: list[asyncio.Future[ComputeSystem]] = []

    async def main() -> None:
        pending.append(asyncio.ensure_future(ComputeSystem.open("outlived")))
        await asyncio.sleep(0.1)  # the open runs on a bridge thread now

    asyncio.run(create())
    with testing.delay("HcsOpenComputeSystem", sync_ms=400):
        started = time.monotonic()
        asyncio.run(main())
        assert time.monotonic() - started < 0.3  # the loop did not wait for the open
        time.sleep(0.5)  # the open has returned and handed out a handle...
        deadline = time.monotonic() + 5
        while testing.counts().system_handles and time.monotonic() < deadline:
            time.sleep(0.005)  # ...which the bridge closes (nobody can take it)
    assert testing.counts().system_handles == 0
    assert pending[0].cancelled()  # (asyncio.run cancelled it)

    async def cleanup() -> None:
        async with await ComputeSystem.open("outlived") as system:
            await system.terminate()

    asyncio.run(cleanup())
