"""The classic VM workflow, every step an awaitable aiohcs call: disk, access, VM, and back.

    python examples/classic_vm.py [--dir DIR]

Creates a VHDX, the guest and runtime state files, grants the VM access to them, creates
a UEFI VM with the disk on SCSI and a Hyper-V socket service, starts it, talks to a guest
service over a Hyper-V socket, pauses, saves, terminates, grants access to the saved
state, restores it as a new VM, runs a process in it, shuts it down and cleans up. The
files go to a temporary folder removed at the end, or to ``--dir DIR``, a new or empty
folder where they are kept (a folder that is not empty is refused in one line, exit 2).

On hcsim (Linux, macOS, CI) it runs as is: the "guest service" is a small Python program
this script starts inside the emulated VM. On Windows, point ``--dir`` at a folder the
Hyper-V host can use, boot a real OS image instead of the empty disk, and run your own
guest service for ``SERVICE_ID`` inside it (the guest process started here needs hcsim).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import anyio

from aiohcs import access, vhd
from aiohcs.schema import builders
from aiohcs.system import ComputeSystem
from aiohcs.testing import is_available as on_hcsim

VM_ID = "classic-vm"
RESTORED_ID = "classic-vm-restored"
#: The Hyper-V socket service the guest offers (any GUID of your own).
SERVICE_ID = uuid.UUID("c1a551c0-0b5e-4d2a-9a65-4ee5fa7e0001")
#: The guest service of this example (hcsim only): answer one line over the socket.
GUEST_SERVICE = """
from aiohcs.hvsocket import guest_listener
with guest_listener({sid!r}) as listener:
    print("listening", flush=True)
    conn, _ = listener.accept()
    with conn:
        line = b""
        while not line.endswith(b"\\n"):
            line += conn.recv(1024)
        conn.sendall(b"guest: " + line.upper())
"""


def step(text: str) -> None:
    """Print one step of the workflow."""
    print(f"- {text}", flush=True)


async def grant_files(vm_id: str, *paths: Path) -> None:
    """Grant ``vm_id`` access to each file (Windows: its worker process may open them)."""
    for path in paths:
        await access.grant_vm_access(vm_id, path)
    step(f"granted {vm_id} access to {', '.join(p.name for p in paths)}")


async def talk_to_guest(vm: ComputeSystem) -> None:
    """Start the guest service (hcsim), then send it a line over a Hyper-V socket."""
    if on_hcsim():
        command = [sys.executable, "-c", GUEST_SERVICE.format(sid=str(SERVICE_ID))]
        guest = await vm.open_process(command, stdin=None, stderr=None)
        assert guest.stdout is not None
        ready = await guest.stdout.receive()
        step(f"guest service: {ready.decode().strip()} on {SERVICE_ID}")
    else:
        guest = None
    async with await vm.connect_hvsocket(SERVICE_ID) as stream:
        await stream.send(b"hello over hvsocket\n")
        answer = b""
        while not answer.endswith(b"\n"):
            answer += await stream.receive()
    step(f"host <- {answer.decode().strip()!r}")
    if guest is not None:
        async with guest:
            await guest.wait()


async def main(work: Path) -> None:
    """Run the whole workflow with its files in ``work`` (an absolute folder)."""
    disk, guest_state, runtime_state = work / "os.vhdx", work / "vm.vmgs", work / "vm.vmrs"
    saved = work / "vm.save"

    await vhd.create_vhdx(disk, 1 << 30)
    async with await vhd.open_vhd(disk, read_only=True) as opened:
        size = await opened.virtual_size()
    step(f"created {disk.name}: dynamic VHDX, {size >> 20} MiB virtual")
    await access.create_empty_guest_state_file(guest_state)
    await access.create_empty_runtime_state_file(runtime_state)
    step(f"created {guest_state.name} and {runtime_state.name}")
    await grant_files(VM_ID, disk, guest_state, runtime_state)

    config = builders.uefi_vm(
        vhd_path=str(disk),
        guest_state_file=str(guest_state),
        runtime_state_file=str(runtime_state),
        hv_socket=builders.hv_socket_config(services={str(SERVICE_ID): None}),
        guest_connection=True,  # HCS talks to the guest's agent: processes, shutdown
        owner="classic-vm-example",
    )
    async with await ComputeSystem.create(VM_ID, config) as vm:
        step(f"created {VM_ID}")
        await vm.start()
        step(f"started {VM_ID}: {(await vm.properties()).state}")
        await talk_to_guest(vm)
        await vm.pause()
        step(f"paused {VM_ID}")
        await vm.save(saved)
        step(f"saved {VM_ID} to {saved.name} ({saved.stat().st_size} bytes)")
        await vm.terminate()
        step(f"terminated {VM_ID}: {(await vm.wait()).exit_type}")

    compatibility = await access.processor_compatibility_from_saved_state(saved)
    step(f"processor requirements of the saved state: {compatibility.text}")
    await grant_files(RESTORED_ID, disk, guest_state, runtime_state, saved)
    async with await ComputeSystem.restore(RESTORED_ID, config, saved) as again:
        step(f"restored {RESTORED_ID}: {(await again.properties()).state}")
        if on_hcsim():
            done = await again.run_process([sys.executable, "-c", "print('hi from the VM')"])
            step(f"process in {RESTORED_ID} said {done.stdout.decode().strip()!r}")
        await again.shutdown()
        step(f"shut down {RESTORED_ID}: {(await again.wait()).exit_type}")

    for vm_id in (VM_ID, RESTORED_ID):
        for path in (disk, guest_state, runtime_state):
            await access.revoke_vm_access(vm_id, path)
    await access.revoke_vm_access(RESTORED_ID, saved)
    step("revoked every grant")


def unusable_dir(work: Path) -> str | None:
    """Why ``work`` cannot take the example's files, or None (a new or empty folder)."""
    if not work.exists():
        return None
    if not work.is_dir():
        return f"--dir {work} is not a folder"
    if any(work.iterdir()):
        return (
            f"--dir {work} is not empty (a run's files are there?): the example creates new "
            "files, so give a new or empty folder"
        )
    return None


def run(work: Path | None) -> None:
    """Run in ``work``, or in a temporary folder removed at the end."""
    if work is not None:
        work.mkdir(parents=True, exist_ok=True)
        anyio.run(main, work.absolute())
        return
    tmp = Path(tempfile.mkdtemp(prefix="classic-vm-"))
    try:
        anyio.run(main, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        shutil.rmtree(tmp)
    except OSError as exc:  # (a file still open: say so rather than claim it is gone)
        step(f"could not remove {tmp}: {exc}")
    else:
        step(f"removed {tmp} (keep the files with --dir DIR)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="The classic VM workflow, end to end.")
    parser.add_argument(
        "--dir", type=Path, help="a new or empty folder for the disk and state files (kept)"
    )
    work = parser.parse_args().dir
    problem = None if work is None else unusable_dir(work)
    if problem is not None:
        parser.exit(2, f"{parser.prog}: error: {problem}\n")
    run(work)
