"""Live-migrate a running VM and watch it move: progress, migration events, the new home.

    python examples/live_migration.py

Both ends run in this process here, over a socket pair, which is what hcsim offers (on
Windows each end runs on its own host, over a TCP connection between them: call
``migrate`` with the source's end on one host and ``migrate_in`` with the other end on
the other). Needs a Windows release with live migration; hcsim has it.
"""

from __future__ import annotations

import socket
from typing import Any

import anyio

from aiohcs.events import LiveMigrationEvent, VmLifecycleEvent
from aiohcs.system import ComputeSystem

VM_CONFIG: dict[str, Any] = {
    "SchemaVersion": {"Major": 2, "Minor": 1},
    "Owner": "live-migration-example",
    "VirtualMachine": {
        "Chipset": {"Uefi": {}},
        "ComputeTopology": {"Memory": {"SizeInMB": 2048}, "Processor": {"Count": 2}},
        "Devices": {},
    },
}
SESSION = 42


async def watch(source: ComputeSystem) -> None:
    """Print the source's migration and lifecycle events until it ends."""
    async for event in source.events():
        if isinstance(event, LiveMigrationEvent):
            result = f" ({event.result})" if event.result else ""
            print(f"source: migration {event.event}{result}")
        elif isinstance(event, VmLifecycleEvent):
            print(f"source: now {event.state}")


async def main() -> None:
    """Start vm1 (showing its progress), migrate it to vm1-moved, show where it runs."""
    async with await ComputeSystem.create("vm1", VM_CONFIG, lifecycle_events=True) as source:
        async with source.tracked.start() as op:
            async for update in op.progress():
                print(f"source: starting, {update.percent:.0f}%")
        print(f"source: {(await source.properties()).state}")
        left, right = socket.socketpair()
        with left, right:
            async with anyio.create_task_group() as tg:
                tg.start_soon(watch, source)
                tg.start_soon(lambda: source.migrate(left, session_id=SESSION))
                moved = await ComputeSystem.migrate_in(
                    "vm1-moved", VM_CONFIG, right, session_id=SESSION
                )
        async with moved:
            print(f"vm1-moved: {(await moved.properties()).state}")
            print(f"vm1: exited ({(await source.wait()).exit_type})")
            await moved.terminate()
            await moved.wait()


if __name__ == "__main__":
    anyio.run(main)
