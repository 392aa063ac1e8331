"""Save a VM, terminate it, restore it from the saved state, and show it running again.

    python examples/save_restore.py [--state-dir DIR]

HCS saves only paused systems; the state file then holds everything needed to bring the
VM back as a new compute system (``RestoreState.SaveStateFilePath``, applied at start),
once that new VM has been granted access to the file. On Windows, point the configuration
at real disks (granted to the VMs too); on hcsim it runs as is.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import anyio

from aiohcs.access import grant_vm_access
from aiohcs.system import ComputeSystem, enumerate_systems

VM_CONFIG: dict[str, Any] = {
    "SchemaVersion": {"Major": 2, "Minor": 1},
    "Owner": "save-restore-example",
    "VirtualMachine": {
        "Chipset": {"Uefi": {}},
        "ComputeTopology": {"Memory": {"SizeInMB": 2048}, "Processor": {"Count": 2}},
        "Devices": {},
    },
}


async def state(system: ComputeSystem) -> str:
    """The system's State property."""
    return str((await system.properties()).state)


async def main(state_dir: Path) -> None:
    """Save vm1, terminate it, restore it as vm1-restored."""
    state_file = state_dir / "vm1.vmrs"
    async with await ComputeSystem.create("vm1", VM_CONFIG) as vm:
        await vm.start()
        print(f"vm1: {await state(vm)}")
        await vm.pause()
        print(f"vm1: {await state(vm)}")
        await vm.save(state_file)
        print(f"vm1: saved to {state_file.absolute()} ({state_file.stat().st_size} bytes)")
        await vm.terminate()
        status = await vm.wait()
        print(f"vm1: exited ({status.exit_type})")

    # The restored VM is a new compute system: it may open the saved state once granted.
    await grant_vm_access("vm1-restored", state_file.absolute())
    async with await ComputeSystem.restore("vm1-restored", VM_CONFIG, state_file) as again:
        props = await again.properties("Memory")
        vm_memory = props.memory.virtual_machine_memory if props.memory else None
        pages = vm_memory.assigned_memory if vm_memory else None
        size = f"{pages * 4096 >> 20} MB" if isinstance(pages, int) else "unknown"
        print(f"vm1-restored: {props.state} (restored, {size} memory)")
        running = [(s.id, str(s.state)) for s in await enumerate_systems()]
        print(f"systems now: {running}")
        await again.terminate()
        await again.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Save, terminate and restore a VM.")
    parser.add_argument("--state-dir", type=Path, help="where to write vm1.vmrs")
    args = parser.parse_args()
    if args.state_dir is not None:
        anyio.run(main, args.state_dir)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"(the state file goes to {tmp}, a temporary directory removed at the end)")
            anyio.run(main, Path(tmp))
        print(f"(removed {tmp}: keep the state file with --state-dir DIR)")
