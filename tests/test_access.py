"""aiohcs.access: VM access grants and state files, and hcsim's access check at start.

Also run against an hcsim service (``AIOHCS_TEST_SERVICE=1``): the access list then lives
in the service, which makes the starts.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import VM, settle

from aiohcs import access, errors, testing
from aiohcs.errors import HResult
from aiohcs.schema import builders as b
from aiohcs.system import ComputeSystem

pytestmark = pytest.mark.anyio


def _with_disk(path: Path) -> dict[str, Any]:
    devices = {"Scsi": {"0": {"Attachments": {"0": {"Type": "VirtualDisk", "Path": str(path)}}}}}
    return {**VM, "VirtualMachine": {**VM["VirtualMachine"], "Devices": devices}}


def _with_state(guest: Path, runtime: Path) -> dict[str, Any]:
    state = {"GuestStateFilePath": str(guest), "RuntimeStateFilePath": str(runtime)}
    return {**VM, "VirtualMachine": {**VM["VirtualMachine"], "GuestState": state}}


def _disk(tmp_path: Path, name: str = "disk.vhdx") -> Path:
    path = tmp_path / name
    path.write_bytes(b"")
    return path


async def _saved_state(tmp_path: Path) -> Path:
    """The state file ``saved.vmrs`` of a VM (``saved``) saved while paused."""
    state = tmp_path / "saved.vmrs"
    async with await ComputeSystem.create("saved", VM) as original:
        await original.start()
        await original.pause()
        await original.save(state)
        await original.terminate()
    return state


async def _start_denied(system: ComputeSystem, path: Path) -> None:
    with pytest.raises(errors.AccessDenied) as caught:
        await system.start()
    err = caught.value
    assert err.hresult == HResult.E_ACCESSDENIED
    assert err.operation == "Start"
    assert str(path) in err.message
    assert err.result_error is not None
    assert err.result_error["Attribution"] == [{"OperationFailure": {"Detail": "Start"}}]
    assert (await system.properties()).state == "Created"


async def test_start_is_denied_naming_the_disk_until_granted(tmp_path: Path) -> None:
    disk = _disk(tmp_path)
    async with await ComputeSystem.create("vm1", _with_disk(disk)) as vm:
        await _start_denied(vm, disk)
        await access.grant_vm_access("someone-else", disk)
        await _start_denied(vm, disk)
        await access.grant_vm_access("vm1", disk)
        await vm.start()
        assert (await vm.properties()).state == "Running"
        await vm.terminate()


async def test_state_files_created_granted_and_used(tmp_path: Path) -> None:
    vmgs, vmrs = tmp_path / "vm.vmgs", tmp_path / "vm.vmrs"
    await access.create_empty_guest_state_file(vmgs)
    await access.create_empty_runtime_state_file(str(vmrs))
    assert vmgs.read_bytes() == b""
    assert vmrs.read_bytes() == b""
    for create in (access.create_empty_guest_state_file, access.create_empty_runtime_state_file):
        with pytest.raises(errors.HcsError) as exists:
            await create(vmgs)
        assert exists.value.hresult == HResult.ERROR_FILE_EXISTS
    async with await ComputeSystem.create("vm1", _with_state(vmgs, vmrs)) as vm:
        await _start_denied(vm, vmgs)
        await access.grant_vm_access("vm1", vmgs)
        await _start_denied(vm, vmrs)
        await access.grant_vm_access("vm1", vmrs)
        await vm.start()
        await vm.terminate()


async def test_group_grant_and_revokes(tmp_path: Path) -> None:
    disk = _disk(tmp_path)
    await access.grant_vm_group_access(disk)
    for vm_id in ("a", "b"):
        async with await ComputeSystem.create(vm_id, _with_disk(disk)) as vm:
            await vm.start()
            await vm.terminate()
    await access.revoke_vm_group_access(disk)
    async with await ComputeSystem.create("c", _with_disk(disk)) as vm:
        await _start_denied(vm, disk)
        await access.grant_vm_access("c", disk)
        await access.revoke_vm_access("c", disk)
        await _start_denied(vm, disk)
        await access.revoke_vm_access("c", disk)  # never granted now: not an error
        await access.revoke_vm_group_access(disk)
        await access.grant_vm_access("c", disk)
        await vm.start()
        await vm.terminate()


async def test_restore_needs_the_save_file_granted(tmp_path: Path) -> None:
    state = await _saved_state(tmp_path)
    compat = await access.processor_compatibility_from_saved_state(state)
    assert isinstance(compat, access.ProcessorCompatibility)
    assert compat.get("ProcessorCount") == 2
    assert "ProcessorFeatures" in compat.document
    assert compat.text.startswith("{")
    with pytest.raises(errors.AccessDenied) as caught:
        await ComputeSystem.restore("restored", VM, state)
    assert str(state) in caught.value.message
    with pytest.raises(errors.SystemNotFound):  # restore() cleans up after a failed start
        await ComputeSystem.open("restored")
    await access.grant_vm_access("restored", state)
    async with await ComputeSystem.restore("restored", VM, state) as again:
        assert (await again.properties()).state == "Running"
        await again.terminate()


async def test_reset_clears_the_grants(tmp_path: Path) -> None:
    disk = _disk(tmp_path)
    await access.grant_vm_access("vm1", disk)
    await access.grant_vm_group_access(disk)
    testing.reset()
    async with await ComputeSystem.create("vm1", _with_disk(disk)) as vm:
        await _start_denied(vm, disk)
        await vm.terminate()


async def test_missing_files_and_not_a_saved_state(tmp_path: Path) -> None:
    gone = tmp_path / "gone.vhdx"
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: access.grant_vm_access("vm1", gone),
        lambda: access.revoke_vm_access("vm1", gone),
        lambda: access.grant_vm_group_access(gone),
        lambda: access.revoke_vm_group_access(gone),
        lambda: access.processor_compatibility_from_saved_state(gone),
    ]
    for index, call in enumerate(calls):
        with pytest.raises(errors.HcsError) as caught:
            await call()
        assert caught.value.hresult == HResult.ERROR_FILE_NOT_FOUND
        # The message names the path, and the VM of a single grant (HCS's does neither).
        assert f"The file was not found ({gone}" in caught.value.message
        assert ("VM vm1" in caught.value.message) == (index < 2)
    assert caught.value.operation == "GetProcessorCompatibilityFromSavedState"
    empty = tmp_path / "empty.vmrs"
    await access.create_empty_runtime_state_file(empty)
    with pytest.raises(errors.HcsError) as invalid:
        await access.processor_compatibility_from_saved_state(empty)
    assert invalid.value.hresult == HResult.ERROR_INVALID_DATA
    assert str(empty) in invalid.value.message
    with pytest.raises(errors.HcsError) as exists:
        await access.create_empty_runtime_state_file(empty)
    assert exists.value.hresult == HResult.ERROR_FILE_EXISTS
    assert str(exists.value).endswith(f"The file exists ({empty})")
    no_dir_path = tmp_path / "no-dir" / "x.vmgs"
    with pytest.raises(errors.HcsError) as no_dir:
        await access.create_empty_guest_state_file(no_dir_path)
    assert no_dir.value.hresult in (HResult.ERROR_FILE_NOT_FOUND, HResult.ERROR_PATH_NOT_FOUND)
    assert str(no_dir_path) in no_dir.value.message


BAD_PATHS: list[tuple[Any, type[Exception]]] = [
    (None, errors.InvalidArgumentTypeError),
    (b"/x", errors.InvalidArgumentTypeError),
    (3, errors.InvalidArgumentTypeError),
    ("", errors.InvalidArgumentError),
    ("relative/disk.vhdx", errors.InvalidArgumentError),
    ("/with\0nul", errors.InvalidArgumentError),
]


@pytest.mark.parametrize(("path", "error"), BAD_PATHS, ids=repr)
async def test_bad_paths_fail_before_hcs(path: Any, error: type[Exception]) -> None:
    testing.fail_next("*", HResult.E_FAIL, count=100)  # reaching HCS would fail differently
    try:
        calls: list[Callable[[], Awaitable[Any]]] = [
            lambda: access.grant_vm_access("vm1", path),
            lambda: access.revoke_vm_access("vm1", path),
            lambda: access.grant_vm_group_access(path),
            lambda: access.revoke_vm_group_access(path),
            lambda: access.create_empty_guest_state_file(path),
            lambda: access.create_empty_runtime_state_file(path),
            lambda: access.processor_compatibility_from_saved_state(path),
        ]
        for call in calls:
            with pytest.raises(error):
                await call()
    finally:
        testing.reset()


@pytest.mark.parametrize(
    ("vm_id", "error"),
    [
        (None, errors.InvalidArgumentTypeError),
        (7, errors.InvalidArgumentTypeError),
        ("", errors.InvalidArgumentError),
        ("a\0b", errors.InvalidArgumentError),
    ],
    ids=repr,
)
async def test_bad_vm_ids_fail_before_hcs(
    tmp_path: Path, vm_id: Any, error: type[Exception]
) -> None:
    disk = _disk(tmp_path)
    for call in (access.grant_vm_access, access.revoke_vm_access):
        with pytest.raises(error) as caught:
            await call(vm_id, disk)
        assert "vm_id" in str(caught.value)


@pytest.mark.parametrize(
    ("function", "call"),
    [
        ("HcsGrantVmAccess", lambda p: access.grant_vm_access("vm1", p)),
        ("HcsRevokeVmAccess", lambda p: access.revoke_vm_access("vm1", p)),
        ("HcsGrantVmGroupAccess", lambda p: access.grant_vm_group_access(p)),
        ("HcsRevokeVmGroupAccess", lambda p: access.revoke_vm_group_access(p)),
        ("HcsCreateEmptyGuestStateFile", lambda p: access.create_empty_guest_state_file(p)),
        ("HcsCreateEmptyRuntimeStateFile", lambda p: access.create_empty_runtime_state_file(p)),
        (
            "HcsGetProcessorCompatibilityFromSavedState",
            lambda p: access.processor_compatibility_from_saved_state(p),
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
async def test_injected_faults_are_typed(tmp_path: Path, function: str, call: Any) -> None:
    path = tmp_path / "new.vmgs"
    testing.fail_next(function, HResult.E_ACCESSDENIED)
    with pytest.raises(errors.AccessDenied) as caught:
        await call(path)
    assert caught.value.operation == function.removeprefix("Hcs")
    assert not path.exists()


@pytest.mark.parametrize(
    "export",
    [
        "HcsGrantVmGroupAccess",
        "HcsRevokeVmGroupAccess",
        "HcsGetProcessorCompatibilityFromSavedState",
    ],
)
async def test_newer_exports_name_the_release_they_need(tmp_path: Path, export: str) -> None:
    disk = _disk(tmp_path)
    call = {
        "HcsGrantVmGroupAccess": access.grant_vm_group_access,
        "HcsRevokeVmGroupAccess": access.revoke_vm_group_access,
        "HcsGetProcessorCompatibilityFromSavedState": (
            access.processor_compatibility_from_saved_state
        ),
    }[export]
    with testing.hide_export(export), pytest.raises(errors.UnsupportedOnThisHost) as caught:
        await call(disk)
    assert "Windows" in str(caught.value)


async def test_cancelled_mid_call_the_grant_still_happens(tmp_path: Path) -> None:
    disk = _disk(tmp_path)
    with testing.delay("HcsGrantVmAccess", sync_ms=300):
        with anyio.move_on_after(0.05) as scope:
            await access.grant_vm_access("vm1", disk)
    assert scope.cancelled_caught
    await settle()
    async with await ComputeSystem.create("vm1", _with_disk(disk)) as vm:
        await vm.start()  # the grant ran to its end
        await vm.terminate()


async def test_cancelled_compatibility_read_frees_its_document(tmp_path: Path) -> None:
    state = await _saved_state(tmp_path)
    with testing.delay("HcsGetProcessorCompatibilityFromSavedState", sync_ms=300):
        with anyio.move_on_after(0.05) as scope:
            await access.processor_compatibility_from_saved_state(state)
    assert scope.cancelled_caught
    await settle()
    assert testing.counts().documents == 0


async def test_a_renamed_file_keeps_its_grant_a_recreated_one_does_not(tmp_path: Path) -> None:
    disk = _disk(tmp_path)
    await access.grant_vm_access("vm1", disk)
    await access.grant_vm_access("vm2", disk)
    moved = tmp_path / "moved.vhdx"
    os.replace(disk, moved)
    async with await ComputeSystem.create("vm1", _with_disk(moved)) as vm:
        await vm.start()  # the grant is the file's, not its name's
        await vm.terminate()
    moved.unlink()
    _disk(tmp_path, "moved.vhdx")  # a new file under the same name
    async with await ComputeSystem.create("vm2", _with_disk(moved)) as vm:
        await _start_denied(vm, moved)
        await vm.terminate()


async def test_a_vm_without_files_needs_no_grant() -> None:
    async with await ComputeSystem.create("plain", b.empty_vm()) as vm:
        await vm.start()
        await vm.terminate()


@pytest.mark.parametrize("member", ["vhd_path", "guest_state_file", "runtime_state_file"])
async def test_a_relative_path_in_a_vm_config_fails_the_create(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, member: str
) -> None:
    # The file exists in the caller's directory; HCS resolves a VM's paths in the compute
    # service, so the create fails naming it (no start that asks for an impossible grant).
    monkeypatch.chdir(tmp_path)
    _disk(tmp_path, "att.vhdx")
    disk = _disk(tmp_path)
    paths = {"vhd_path": str(disk), member: "att.vhdx"}
    config = b.uefi_vm(**paths)  # type: ignore[arg-type]
    with pytest.raises(errors.HcsError) as caught:
        await ComputeSystem.create("relative", config)
    assert caught.value.hresult == HResult.ERROR_FILE_NOT_FOUND
    assert "'att.vhdx'" in caught.value.message
    assert "absolute" in caught.value.message
