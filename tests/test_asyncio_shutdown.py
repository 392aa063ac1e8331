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
    async def hold(i: int) -> None:
        async with await ComputeSystem.create(f"held-{i}", CONTAINER) as system:
            await system.start()
            await system.wait()

    tasks: list[asyncio.Task[None]] = []

    async def main() -> None:
        tasks.extend(asyncio.ensure_future(hold(i)) for i in range(8))
        await asyncio.sleep(0.3)  # every task is now waiting for its system to exit

    with caplog.at_level(logging.ERROR):
        asyncio.run(main())  # cancels the eight tasks, and aiohcs's drain task, in any order
    deadline = time.monotonic() + 5
    while testing.counts().system_handles and time.monotonic() < deadline:
        time.sleep(0.01)
    assert testing.counts().system_handles == 0
    assert testing.counts().systems == 8
    assert all(task.cancelled() for task in tasks)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
