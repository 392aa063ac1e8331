"""A process hosting hcsim, with systems and guest processes, for the kill -9 probe.

``python -m reliability._kill9 END`` creates two Linux systems, starts in each a plain
process, a process tree (a shell with a background child) and a console process, prints
``READY <json>`` (the guest pids) and keeps calling ``properties()``. Then, by ``END``:
``sigkill`` waits to be killed; ``exception`` ends the interpreter with an unhandled
exception a moment later (the systems and processes still open).
"""

from __future__ import annotations

import json
import sys

import anyio

from aiohcs.process import Process
from aiohcs.system import ComputeSystem
from reliability._common import LINUX_VM, arm_deadline, log


async def host(end: str) -> None:
    config = {k: v for k, v in LINUX_VM.items() if k != "ShouldTerminateOnLastHandleClosed"}
    systems: list[ComputeSystem] = []
    processes: list[Process] = []
    for number in range(2):
        system = await ComputeSystem.create(f"k9-{number}", config)
        await system.start()
        systems.append(system)
        processes.append(await system.open_process(["sleep", "1000"]))
        processes.append(await system.open_process(["sh", "-c", "sleep 1000 & sleep 1000"]))
        processes.append(await system.open_process(["sleep", "1000"], console=(24, 80)))
    print("READY " + json.dumps([p.pid for p in processes]), flush=True)
    if end == "exception":
        await anyio.sleep(0.2)
        raise RuntimeError("the host's program fails with everything still open")
    while True:
        for system in systems:
            await system.properties()
        await anyio.sleep(0.01)


def main() -> None:
    """Entry point: END (sigkill | exception)."""
    arm_deadline()
    log(f"kill -9 host ({sys.argv[1]})")
    anyio.run(host, sys.argv[1])


if __name__ == "__main__":
    main()
