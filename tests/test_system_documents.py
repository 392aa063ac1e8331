"""Typed documents in the system/service API: models, dicts and JSON in; models out.

Every document parameter accepts a model, a dict or JSON text; a bad member raises
InvalidDocumentError naming its JSON path before anything reaches HCS; results are models on
both backends; extension members survive; every builder output is accepted by hcsim.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import CONTAINER, VM, run_python

import aiohcs
from aiohcs import errors, schema, testing
from aiohcs.access import grant_vm_access, grant_vm_group_access
from aiohcs.events import SystemCrashReport, SystemExited
from aiohcs.schema import builders as b
from aiohcs.service import modify_service_settings, service_properties
from aiohcs.system import ComputeSystem, enumerate_systems

pytestmark = pytest.mark.anyio


def forms(model: schema.HcsModel) -> list[Any]:
    """The three spellings of one document: model, dict, JSON text."""
    return [model, model.to_dict(), model.to_json()]


async def expect_rejected_before_hcs(
    call: Callable[[], Awaitable[Any]], path: str, type_name: str
) -> errors.InvalidDocumentError:
    """``call`` raises InvalidDocumentError at ``path`` and nothing reaches hcsim."""
    before = testing.counts()
    # Any HCS entry point reached from here on fails with E_ACCESSDENIED (count 1).
    testing.fail_next("*", errors.HResult.E_ACCESSDENIED)
    with pytest.raises(errors.InvalidDocumentError) as info:
        await call()
    assert testing.counts() == before  # no operation, handle or document was created
    # The armed fault is still there: the first real HCS call consumes it.
    with pytest.raises(errors.AccessDenied):
        await enumerate_systems()
    error = info.value
    assert isinstance(error, ValueError)
    assert isinstance(error, errors.InvalidArgumentError)
    assert error.path == path
    assert error.type_name == type_name
    assert path in str(error)
    return error


# ---------------------------------------------------------------- inputs


async def test_create_accepts_model_dict_and_json() -> None:
    for i, config in enumerate(forms(schema.ComputeSystem.model_validate(VM))):
        async with await ComputeSystem.create(f"form-{i}", config) as system:
            props = await system.properties()
            assert props.state == "Created"
            assert props.owner == VM["Owner"]
            await system.terminate()


async def test_create_with_snake_case_dict() -> None:
    config = {"schema_version": {"major": 2, "minor": 1}, "owner": "snake", "container": {}}
    async with await ComputeSystem.create("snake", config) as system:
        assert (await system.properties()).owner == "snake"
        await system.terminate()


async def test_bad_config_member_names_its_json_path() -> None:
    bad = json.loads(json.dumps(VM))
    bad["VirtualMachine"]["ComputeTopology"]["Memory"]["SizeInMB"] = -1
    path = "VirtualMachine.ComputeTopology.Memory.SizeInMB"
    for config in (bad, json.dumps(bad)):
        error = await expect_rejected_before_hcs(
            functools.partial(ComputeSystem.create, "bad", config), path, "ComputeSystem"
        )
        assert error.argument == "config"
    # snake_case keys report the JSON path too.
    snake = {"virtual_machine": {"compute_topology": {"memory": {"size_in_mb": "lots"}}}}
    await expect_rejected_before_hcs(
        lambda: ComputeSystem.create("bad", snake), path, "ComputeSystem"
    )
    # A list index is part of the path.
    layers = {"Container": {"Storage": {"Layers": [{"Path": "a"}, {"Path": 5}]}}}
    await expect_rejected_before_hcs(
        lambda: ComputeSystem.create("bad", layers),
        "Container.Storage.Layers.1.Path",
        "ComputeSystem",
    )


async def test_invalid_json_text_and_wrong_types_are_rejected_before_hcs() -> None:
    for text in ("{not json", "[1, 2]", '"text"'):
        await expect_rejected_before_hcs(
            functools.partial(ComputeSystem.create, "bad", text), "", "ComputeSystem"
        )
    await expect_rejected_before_hcs(lambda: ComputeSystem.create("bad", 42), "", "ComputeSystem")
    assert not await enumerate_systems()


async def test_lifecycle_options_accept_every_form(tmp_path: Path) -> None:
    for i, (pause, save, crash) in enumerate(
        zip(
            forms(schema.PauseOptions.model_validate({"SuspensionLevel": "Suspend"})),
            forms(
                schema.SaveOptions.model_validate(
                    {"SaveType": "ToFile", "SaveStateFilePath": str(tmp_path / "s")}
                )
            ),
            forms(schema.CrashOptions.model_validate({"Type": "CrashGuest"})),
            strict=True,
        )
    ):
        async with await ComputeSystem.create(f"opts-{i}", VM) as vm:
            await vm.start()
            await vm.pause(pause)
            assert (await vm.properties()).state == "Paused"
            await vm.save(save)
            assert (tmp_path / "s").exists()
            (tmp_path / "s").unlink()
            await vm.resume()
            stream = vm.events()
            await vm.crash(crash)
            with anyio.fail_after(5):
                events = [e async for e in stream]
            assert isinstance(events[-1], SystemExited)
            reports = [e.report for e in events if isinstance(e, SystemCrashReport)]
            assert reports
            assert all(isinstance(r, schema.CrashReport) for r in reports)


async def test_shutdown_options_and_modify_request_accept_every_form() -> None:
    requests = forms(
        schema.ModifySettingRequest.model_validate(
            {
                "ResourcePath": "VirtualMachine/ComputeTopology/Memory/SizeInMB",
                "RequestType": "Update",
                "Settings": 2048,
            }
        )
    )
    shutdowns = forms(
        schema.ShutdownOptions.model_validate({"Mechanism": "GuestConnection", "Type": "Shutdown"})
    )
    for i, (request, shutdown) in enumerate(zip(requests, shutdowns, strict=True)):
        async with await ComputeSystem.create(f"mod-{i}", VM) as vm:
            await vm.start()
            await vm.modify(request)
            await vm.shutdown(shutdown)
            with anyio.fail_after(5):
                status = await vm.wait()
            assert isinstance(status, schema.SystemExitStatus)
            assert status.exit_type == "GracefulExit"


async def test_bad_options_are_rejected_before_hcs() -> None:
    async with await ComputeSystem.create("opts", VM) as vm:
        await vm.start()
        await expect_rejected_before_hcs(
            lambda: vm.pause({"SuspensionLevel": 3}), "SuspensionLevel", "PauseOptions"
        )
        await expect_rejected_before_hcs(
            lambda: vm.save({"SaveStateFilePath": ["x"]}), "SaveStateFilePath", "SaveOptions"
        )
        await expect_rejected_before_hcs(
            lambda: vm.shutdown({"Force": "maybe"}), "Force", "ShutdownOptions"
        )
        await expect_rejected_before_hcs(lambda: vm.crash("[]"), "", "CrashOptions")
        error = await expect_rejected_before_hcs(
            lambda: vm.modify({"ResourcePath": 1, "Settings": 2}),
            "ResourcePath",
            "ModifySettingRequest",
        )
        assert error.argument == "request"
        await expect_rejected_before_hcs(
            lambda: vm.properties(query={"PropertyTypes": "Memory"}),
            "PropertyTypes",
            "System_PropertyQuery",
        )
        assert (await vm.properties()).state == "Running"
        await vm.terminate()


async def test_queries_accept_every_form() -> None:
    async with await ComputeSystem.create("q-a", CONTAINER) as a:
        async with await ComputeSystem.create("q-b", VM) as vm:
            for query in forms(
                schema.System_PropertyQuery.model_validate({"PropertyTypes": ["Memory"]})
            ):
                props = await vm.properties(query=query)
                assert isinstance(props, schema.Properties)
                assert props.id == "q-b"
            for query in forms(schema.SystemQuery.model_validate({"Types": ["VirtualMachine"]})):
                found = await enumerate_systems(query)
                assert [p.id for p in found] == ["q-b"]
                assert all(isinstance(p, schema.Properties) for p in found)
            await expect_rejected_before_hcs(
                lambda: enumerate_systems({"Ids": "q-a"}), "Ids", "SystemQuery"
            )
            await vm.terminate()
        await a.terminate()


async def test_service_documents_accept_every_form() -> None:
    for query in forms(schema.Service_PropertyQuery.model_validate({"PropertyTypes": ["Basic"]})):
        props = await service_properties(query=query)
        assert isinstance(props, schema.ServiceProperties)
        assert props.properties
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for group_id, form in zip(ids, range(3), strict=True):
        request = schema.ModificationRequest.model_validate(
            {
                "PropertyType": "CpuGroup",
                "Settings": {
                    "Operation": "CreateGroup",
                    "OperationDetails": {
                        "GroupId": group_id,
                        "LogicalProcessorCount": 1,
                        "LogicalProcessors": [0],
                    },
                },
            }
        )
        await modify_service_settings(forms(request)[form])
    groups = (await service_properties("CpuGroup")).to_dict()["Properties"][0]["CpuGroups"]
    assert {g["GroupId"] for g in groups} >= set(ids)
    await expect_rejected_before_hcs(
        lambda: service_properties(query={"PropertyTypes": [1]}),
        "PropertyTypes.0",
        "Service_PropertyQuery",
    )
    error = await expect_rejected_before_hcs(
        lambda: modify_service_settings('{"PropertyType": ["CpuGroup"]}'),
        "PropertyType",
        "ModificationRequest",
    )
    assert error.argument == "settings"


# ---------------------------------------------------------------- results


async def test_results_are_models_with_extension_members_kept() -> None:
    config = schema.ComputeSystem.model_validate({**CONTAINER, "FutureMember": {"Nested": [1, 2]}})
    assert config.to_dict()["FutureMember"] == {"Nested": [1, 2]}
    async with await ComputeSystem.create("ext", config) as system:
        props = await system.properties()
        assert isinstance(props, schema.Properties)
        # Properties HCS sends that the schema lacks (none here) would be kept the same way.
        round_trip = schema.Properties.model_validate({**props.to_dict(), "Extra": {"x": 1}})
        assert round_trip.to_dict()["Extra"] == {"x": 1}
        stream = system.events()
        await system.terminate()
        with anyio.fail_after(5):
            events = [e async for e in stream]
        status = await system.wait()
        exited = events[-1]
        assert isinstance(exited, SystemExited)
        assert isinstance(status, schema.SystemExitStatus)
        assert status == exited.status
        assert exited.raw is not None
        assert exited.payload == json.loads(exited.raw)
        assert status.to_dict() == exited.payload


async def test_restore_accepts_a_model_and_validates(tmp_path: Path) -> None:
    state = tmp_path / "vm.vmrs"
    async with await ComputeSystem.create("orig", VM) as vm:
        await vm.start()
        await vm.pause()
        await vm.save(state)
        await vm.terminate()
    model = schema.ComputeSystem.model_validate(VM)
    await grant_vm_access("again", state)
    async with await ComputeSystem.restore("again", model, state) as again:
        assert (await again.properties()).state == "Running"
        await again.terminate()
    assert model.virtual_machine is not None
    assert model.virtual_machine.restore_state is None  # the caller's model is not changed
    bad = json.loads(json.dumps(VM))
    bad["VirtualMachine"]["Chipset"] = "uefi"
    await expect_rejected_before_hcs(
        lambda: ComputeSystem.restore("bad", bad, state), "VirtualMachine.Chipset", "ComputeSystem"
    )


async def test_errors_carry_the_result_error_model() -> None:
    async with await ComputeSystem.create("err", CONTAINER) as system:
        with pytest.raises(errors.InvalidState) as info:
            await system.pause()
        model = info.value.result_error_model
        assert isinstance(model, schema.ResultError)
        assert info.value.result_error is not None
        assert model.to_dict()["Error"] == info.value.result_error["Error"]
        await system.terminate()


def test_import_aiohcs_does_not_load_the_models() -> None:
    code = (
        "import sys, aiohcs, aiohcs.system, aiohcs.events, aiohcs.service; "
        "print(any(m == 'pydantic' or m.startswith('aiohcs.schema._') for m in sys.modules))"
    )
    out = run_python("-c", code).stdout
    assert out.strip() == "False"
    assert aiohcs.InvalidDocumentError is errors.InvalidDocumentError


# ---------------------------------------------------------------- builders


def hcn_endpoint() -> str:
    """Create an endpoint in the emulator's computenetwork and return its id.

    A start checks that the endpoints a VM's network adapters name exist (hcsim README
    "Host Compute Network").
    """
    from aiohcs._hcs import ffi, lib

    def guid(value: uuid.UUID) -> Any:
        g = ffi.new("GUID *")
        g.Data1, g.Data2, g.Data3 = value.fields[0], value.fields[1], value.fields[2]
        g.Data4 = list(value.bytes[8:])
        return g

    network, endpoint = ffi.new("HCN_NETWORK *"), ffi.new("HCN_ENDPOINT *")
    settings = '{"Type": "Private"}'
    assert lib.HcnCreateNetwork(guid(uuid.uuid4()), settings, network, ffi.NULL) == 0
    endpoint_id = uuid.uuid4()
    hr = lib.HcnCreateEndpoint(network[0], guid(endpoint_id), "{}", endpoint, ffi.NULL)
    assert hr == 0
    lib.HcnCloseEndpoint(endpoint[0])
    lib.HcnCloseNetwork(network[0])
    return str(endpoint_id)


def builder_documents(disks: Path) -> list[tuple[str, schema.ComputeSystem, bool]]:
    """(name, document, is a VM) for every ComputeSystem builder.

    hcsim, as Windows, constructs no VM whose disks are missing: they exist in *disks*.
    """
    for name in ("win.vhdx", "root.vhdx"):
        (disks / name).write_bytes(b"")
    endpoint = hcn_endpoint()
    service = str(uuid.uuid4())
    return [
        ("empty-vm", b.empty_vm(), True),
        (
            "uefi-vm",
            b.uefi_vm(
                vhd_path=str(disks / "win.vhdx"),
                network_adapters={"nic": b.network_adapter(endpoint_id=endpoint)},
                smb_shares=[b.smb_share(name="s", host_path="/s")],
                hv_socket=b.hv_socket_config(services={service: None}),
            ),
            True,
        ),
        (
            "linux-uvm",
            b.linux_utility_vm(
                kernel_path="/boot/vmlinuz",
                initrd_path="/boot/initrd.img",
                plan9_shares=[b.plan9_share(name="p", host_path="/p")],
                scsi_disks=[b.scsi_disk(str(disks / "root.vhdx"))],
            ),
            True,
        ),
        ("argon", b.process_isolated_container(layers=["/l/base"], scratch_path="/scratch"), False),
    ]


async def test_every_builder_is_created_and_started_by_hcsim(tmp_path: Path) -> None:
    documents = builder_documents(tmp_path)
    for disk in tmp_path.iterdir():  # every VM may open the disks (hcsim README "VM access")
        await grant_vm_group_access(disk)
    for name, doc, is_vm in documents:
        for i, form in enumerate(forms(doc)):
            async with await ComputeSystem.create(f"{name}-{i}", form) as system:
                props = await system.properties()
                assert props.state == "Created", name
                assert props.system_type == ("VirtualMachine" if is_vm else "Container"), name
                await system.start()
                assert (await system.properties()).state == "Running", name
                if is_vm:
                    # The hot-add requests of the builders are accepted by a running VM.
                    await system.modify(
                        b.add_network_adapter_request(
                            "nic2", b.network_adapter(endpoint_id=hcn_endpoint())
                        )
                    )
                    hot = b.scsi_disk(str(tmp_path / "win.vhdx"))  # (a disk that exists)
                    await system.modify(b.add_scsi_disk_request(hot, lun=3))
                await system.terminate()
                assert (await system.wait()).exit_type == "ForcedExit"


async def test_hyperv_isolated_container_builder_in_a_started_utility_vm() -> None:
    uvm_doc = b.linux_utility_vm(kernel_path="/boot/vmlinuz", initrd_path="/boot/initrd.img")
    async with await ComputeSystem.create("uvm", uvm_doc) as uvm:
        await uvm.start()
        hosted = b.hyperv_isolated_container(
            hosting_system_id="uvm", layers=["/l"], scratch_path="/s"
        )
        async with await ComputeSystem.create("xenon", hosted) as xenon:
            await xenon.start()
            assert (await xenon.properties()).state == "Running"
            await xenon.terminate()
        await uvm.terminate()
