"""What the SDK sees where hcsim is strict as Windows is (issue 14, items 6-9).

A VM naming files that do not exist is not created (ERROR_FILE_NOT_FOUND, the path in the
message); a VM without a guest connection runs no process and cannot be shut down
gracefully (ERROR_NOT_SUPPORTED); a missing program names its command line; every failure
document is a ResultError of the schema, and every document hcsim emits validates against
the generated models with no member outside the schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import LINUX, SCHEMA, VM, guest

from aiohcs import errors
from aiohcs._hresult import HResult
from aiohcs.access import grant_vm_access
from aiohcs.schema import builders as b
from aiohcs.system import ComputeSystem

pytestmark = pytest.mark.anyio


def _vm(**members: Any) -> dict[str, Any]:
    """A UEFI VM with these members added to its VirtualMachine."""
    return {**VM, "VirtualMachine": {**VM["VirtualMachine"], **members}}


def _scsi(path: Path) -> dict[str, Any]:
    return {"Scsi": {"0": {"Attachments": {"0": {"Type": "VirtualDisk", "Path": str(path)}}}}}


@pytest.mark.parametrize("where", ["scsi", "guest-state", "runtime-state"])
async def test_a_vm_naming_a_missing_file_is_not_created(tmp_path: Path, where: str) -> None:
    present = tmp_path / "present.vmgs"
    present.write_bytes(b"")
    gone = tmp_path / "gone.vhdx"
    config = {
        "scsi": _vm(Devices=_scsi(gone)),
        "guest-state": _vm(GuestState={"GuestStateFilePath": str(gone)}),
        "runtime-state": _vm(
            GuestState={"GuestStateFilePath": str(present), "RuntimeStateFilePath": str(gone)}
        ),
    }[where]
    with pytest.raises(errors.HcsError) as caught:
        await ComputeSystem.create("vm1", config)
    err = caught.value
    assert err.hresult == HResult.ERROR_FILE_NOT_FOUND
    assert str(gone) in err.message
    assert str(gone) in str(err)
    assert err.result_error is not None
    assert err.result_error["Attribution"] == [{"OperationFailure": {"Detail": "Construct"}}]
    assert err.error_events
    assert str(gone) in err.error_events[0]["Message"]
    # nothing was created
    with pytest.raises(errors.SystemNotFound):
        await ComputeSystem.open("vm1")


async def test_negative_control_the_files_exist(tmp_path: Path) -> None:
    disk = tmp_path / "disk.vhdx"
    disk.write_bytes(b"")
    await grant_vm_access("vm1", disk)  # (hcsim README "VM access")
    async with await ComputeSystem.create("vm1", _vm(Devices=_scsi(disk))) as vm:
        await vm.start()
        assert (await vm.properties()).state == "Running"
        await vm.terminate()


async def test_hot_adding_a_missing_disk_fails(tmp_path: Path) -> None:
    disk = tmp_path / "disk.vhdx"
    disk.write_bytes(b"")
    async with await ComputeSystem.create("vm1", VM) as vm:
        await vm.start()
        gone = tmp_path / "gone.vhdx"
        with pytest.raises(errors.HcsError) as caught:
            await vm.modify(b.add_scsi_disk_request(b.scsi_disk(str(gone)), lun=1))
        assert caught.value.hresult == HResult.ERROR_FILE_NOT_FOUND
        assert str(gone) in caught.value.message
        with pytest.raises(errors.AccessDenied, match="Grant the VM access"):
            await vm.modify(b.add_scsi_disk_request(b.scsi_disk(str(disk)), lun=2))
        await grant_vm_access("vm1", disk)
        await vm.modify(b.add_scsi_disk_request(b.scsi_disk(str(disk)), lun=2))  # granted
        await vm.terminate()


async def test_a_missing_directory_is_path_not_found(tmp_path: Path) -> None:
    gone = tmp_path / "no-dir" / "disk.vhdx"
    with pytest.raises(errors.HcsError) as caught:
        await ComputeSystem.create("vm1", _vm(Devices=_scsi(gone)))
    assert caught.value.hresult == HResult.ERROR_PATH_NOT_FOUND
    assert str(gone) in caught.value.message


async def test_a_guestless_vm_runs_no_process_and_does_not_shut_down() -> None:
    async with await ComputeSystem.create("vm1", b.empty_vm()) as vm:
        await vm.start()
        with pytest.raises(errors.HcsError) as caught:
            await vm.run_process(["true"])
        assert caught.value.hresult == HResult.ERROR_NOT_SUPPORTED
        assert "guest connection" in caught.value.message
        with pytest.raises(errors.HcsError) as caught:
            await vm.shutdown()
        assert caught.value.hresult == HResult.ERROR_NOT_SUPPORTED
        assert caught.value.operation == "Shutdown"
        props = await vm.properties("GuestConnection", "Memory")
        assert props.state == "Running"
        assert props.guest_connection_info is None
        assert props.memory is not None
        await vm.terminate()  # needs no guest
        assert (await vm.wait()).exit_type == "ForcedExit"


async def test_negative_control_a_vm_with_a_guest_connection() -> None:
    config = b.linux_utility_vm(kernel_path="/boot/vmlinuz", initrd_path="/boot/initrd.img")
    async with await ComputeSystem.create("uvm", config) as uvm:
        await uvm.start()
        assert (await uvm.run_process(guest("exit 0"))).returncode == 0
        assert (await uvm.properties("GuestConnection")).guest_connection_info is not None
        await uvm.shutdown()
        assert (await uvm.wait()).exit_type == "GracefulExit"


async def test_a_container_has_no_vm_properties() -> None:
    config = {"SchemaVersion": SCHEMA, "Container": {}}
    async with await ComputeSystem.create("c1", config) as c1:
        await c1.start()
        props = await c1.properties("GuestConnection", "Memory")
        assert props.guest_connection_info is None
        assert props.memory is None
        await c1.terminate()


async def test_a_missing_program_names_its_command_line() -> None:
    async with await ComputeSystem.create("linux", LINUX) as linux:
        await linux.start()
        with pytest.raises(errors.HcsError) as caught:
            await linux.run_process(["/no/such/program", "--flag"])
        err = caught.value
        assert err.hresult == HResult.ERROR_FILE_NOT_FOUND
        assert "The process could not be started" in err.message
        assert "/no/such/program --flag" in err.message
        await linux.terminate()
