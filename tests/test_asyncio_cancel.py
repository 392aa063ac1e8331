"""Native asyncio cancellation of calls whose blocking part runs in a worker thread.

anyio's shield does not stop ``asyncio.wait_for`` or ``task.cancel()``; nothing may leak
all the same, and no handle may be closed under a call that still uses it.
"""

from __future__ import annotations

import asyncio

import pytest
from helpers import guest

from aiohcs import testing
from aiohcs.system import ComputeSystem

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.parametrize("anyio_backend", ["asyncio"]),  # asyncio's own cancellation
    pytest.mark.skipif(not testing.is_available(), reason="needs hcsim"),
]

CONTAINER = {"SchemaVersion": {"Major": 2, "Minor": 1}, "Container": {}}
SLOW_MS = 300


async def settle_handles(expected: int) -> int:
    for _ in range(200):
        if testing.counts().system_handles == expected:
            break
        await asyncio.sleep(0.01)
    return testing.counts().system_handles


async def test_wait_for_timeout_on_open_closes_the_opened_handle() -> None:
    async with await ComputeSystem.create("a", CONTAINER) as system:
        assert testing.counts().system_handles == 1
        with testing.delay("HcsOpenComputeSystem", sync_ms=SLOW_MS), pytest.raises(TimeoutError):
            await asyncio.wait_for(ComputeSystem.open("a"), SLOW_MS / 6000)
        # The open still ran to its end; the handle it produced was closed, not leaked.
        assert await settle_handles(1) == 1
        await system.terminate()


@pytest.mark.hcsim_leaves_systems  # a cancelled create abandons the wait, not the work
async def test_task_cancel_during_create_leaves_no_handle() -> None:
    # (ComputeSystem.create uses the InNamespace variant where the host has it.)
    with testing.delay("HcsCreateComputeSystemInNamespace", sync_ms=SLOW_MS):
        task = asyncio.ensure_future(ComputeSystem.create("b", CONTAINER))
        await asyncio.sleep(SLOW_MS / 6000)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert await settle_handles(0) == 0


async def test_wait_for_timeout_on_kill_closes_its_fresh_handles() -> None:
    async with await ComputeSystem.create("c", CONTAINER) as system:
        await system.start()
        proc = await system.open_process(guest("sleep 30"), stdin=None, stdout=None, stderr=None)
        with testing.delay("HcsOpenComputeSystem", sync_ms=SLOW_MS), pytest.raises(TimeoutError):
            await asyncio.wait_for(proc.kill(), SLOW_MS / 6000)
        # kill's own system/process handles were closed once its open returned.
        assert await settle_handles(1) == 1
        assert await proc.kill() is True
        await proc.wait()
        await proc.aclose()
        await system.terminate()
