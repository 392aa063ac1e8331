"""Event iterators end when their object is garbage-collected in another thread.

Found by the fault matrix (an iterator that never ended: ``waiting 0, ended True``): a
compute system or process dropped without being closed is finalized by whichever thread
runs the garbage collection; its finalizer ends the event streams from that thread, and
the task waiting in ``__anext__`` must still wake up (the issue's contract: iterators end).
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Callable

import anyio
import anyio.to_thread
import pytest

from aiohcs.process import Process
from aiohcs.system import ComputeSystem
from reliability._common import LINUX_VM

pytestmark = [pytest.mark.reliability, pytest.mark.anyio]


def collect_quietly() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.parametrize("owner", ["system", "process"])
async def test_iterator_ends_when_its_object_is_collected_in_a_worker_thread(
    owner: str, probe_report: Callable[[str], None]
) -> None:
    config = dict(LINUX_VM, ShouldTerminateOnLastHandleClosed=False)
    async with await ComputeSystem.create("collected", config) as system:
        await system.start()
        # A second object, dropped without being closed (the system stays open for the
        # clean-up): a process of the system, or a second handle to it.
        target: ComputeSystem | Process
        if owner == "process":
            target = await system.open_process(["sleep", "1000"], stdin=None)
        else:
            target = await ComputeSystem.open("collected")
        stream = target.events()
        ended = anyio.Event()

        async def consume() -> None:
            async for _ in stream:
                pass
            ended.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await anyio.sleep(0.05)  # the consumer waits in __anext__
            cycle: list[object] = [target]
            cycle.append(cycle)  # only a collection frees it
            del target, cycle
            gc.disable()
            try:
                await anyio.to_thread.run_sync(collect_quietly)
            finally:
                gc.enable()
            with anyio.move_on_after(5) as scope:
                await ended.wait()
            probe_report(
                f"{owner} collected in a worker thread: iterator "
                + ("ended" if not scope.cancelled_caught else "still waiting after 5 s")
                + f" (stream waiting {stream.waiting}, ended {getattr(stream, '_ended', '?')})"
            )
            tg.cancel_scope.cancel()
        assert not scope.cancelled_caught, "the iterator never ended"
        await system.terminate()
