"""aiohcs.schema.builders: every builder yields a valid document of the expected shape."""

import json
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from pydantic import ValidationError

from aiohcs.schema import (
    AttachmentType,
    ComputeSystem,
    HcsModel,
    HvSocketServiceConfig,
    ModifySettingRequest,
    UefiBootDevice,
)
from aiohcs.schema import builders as b

ENDPOINT = "6b0c8e6a-0d4f-4a4b-9f5e-1f2a3b4c5d6e"
SERVICE = "0000006d-facb-11e6-bd58-64006a7986d3"


def _revalidated(doc: HcsModel) -> dict[str, object]:
    """The document survives JSON text and validation unchanged; return it as data."""
    data = doc.to_dict()
    assert type(doc).model_validate(data).to_dict() == data
    assert json.loads(type(doc).from_json(doc.to_json()).to_json()) == data
    return data


def test_empty_vm_is_the_documented_minimum() -> None:
    doc = b.empty_vm()
    assert isinstance(doc, ComputeSystem)
    assert _revalidated(doc) == {
        "Owner": "aiohcs",
        "SchemaVersion": {"Major": 2, "Minor": 1},
        "ShouldTerminateOnLastHandleClosed": True,
        "VirtualMachine": {
            "Chipset": {"Uefi": {}},
            "ComputeTopology": {"Memory": {"SizeInMB": 1024}, "Processor": {"Count": 1}},
            "Devices": {},
        },
    }
    custom = b.empty_vm(memory_mb=512, processor_count=4, owner="me", schema_version=(2, 4))
    data = custom.to_dict()
    assert data["Owner"] == "me"
    assert data["SchemaVersion"] == {"Major": 2, "Minor": 4}
    assert data["VirtualMachine"]["ComputeTopology"]["Processor"] == {"Count": 4}


def test_process_isolated_container() -> None:
    doc = b.process_isolated_container(
        layers=[r"C:\layers\app", b.layer(r"C:\layers\base", layer_id=ENDPOINT)],
        scratch_path="\\\\?\\Volume{abc}\\",
        hostname="web",
        mounts=[b.Mount(r"C:\data", r"C:\app\data", read_only=True)],
        memory_mb=512,
        processor_count=2,
        network_namespace=ENDPOINT,
    )
    data = _revalidated(doc)
    container = data["Container"]
    assert isinstance(container, dict)
    assert "VirtualMachine" not in data
    assert "HostedSystem" not in data
    layers = container["Storage"]["Layers"]
    assert [item["Path"] for item in layers] == [r"C:\layers\app", r"C:\layers\base"]
    assert layers[1]["Id"] == ENDPOINT
    assert str(uuid.UUID(layers[0]["Id"])) == layers[0]["Id"]
    assert container["Storage"]["Path"] == "\\\\?\\Volume{abc}\\"
    assert container["GuestOs"] == {"HostName": "web"}
    assert container["MappedDirectories"] == [
        {"HostPath": r"C:\data", "ContainerPath": r"C:\app\data", "ReadOnly": True}
    ]
    assert container["Memory"] == {"SizeInMB": 512}
    assert container["Processor"] == {"Count": 2}
    assert container["Networking"] == {"Namespace": ENDPOINT}


def test_layer_ids_are_stable() -> None:
    assert b.layer(r"C:\L").id == b.layer(r"c:\l").id
    assert b.layer(r"C:\L").id != b.layer(r"C:\M").id


def test_container_needs_layers() -> None:
    with pytest.raises(ValueError, match="layer"):
        b.process_isolated_container(layers=[], scratch_path="s")


def test_hyperv_isolated_container() -> None:
    doc = b.hyperv_isolated_container(
        hosting_system_id="uvm-1", layers=[r"C:\l"], scratch_path=r"C:\s", hostname="h"
    )
    data = _revalidated(doc)
    assert data["HostingSystemId"] == "uvm-1"
    hosted = data["HostedSystem"]
    assert isinstance(hosted, dict)
    assert hosted["SchemaVersion"] == {"Major": 2, "Minor": 1}
    assert hosted["Container"]["GuestOs"] == {"HostName": "h"}
    assert "Container" not in data
    with pytest.raises(ValueError, match="hosting_system_id"):
        b.hyperv_isolated_container(hosting_system_id="", layers=["x"], scratch_path="s")


def test_linux_utility_vm() -> None:
    doc = b.linux_utility_vm(
        kernel_path="/boot/vmlinuz",
        initrd_path="/boot/initrd.img",
        kernel_cmdline="console=ttyS0 quiet",
        memory_mb=2048,
        processor_count=4,
        plan9_shares=[b.plan9_share(name="src", host_path="/srv/src", allowed_files=["a"])],
        scsi_disks=[b.scsi_disk("/vm/root.vhdx"), b.scsi_disk("/vm/data.vhdx", read_only=True)],
        network_adapters={"eth0": b.network_adapter(endpoint_id=ENDPOINT)},
        hv_socket=b.hv_socket_config(services={SERVICE: None}),
        console_pipe=r"\\.\pipe\uvm-com1",
    )
    data = _revalidated(doc)
    vm = data["VirtualMachine"]
    assert isinstance(vm, dict)
    assert vm["Chipset"] == {
        "LinuxKernelDirect": {
            "KernelFilePath": "/boot/vmlinuz",
            "InitRdPath": "/boot/initrd.img",
            "KernelCmdLine": "console=ttyS0 quiet",
        }
    }
    assert "Uefi" not in vm["Chipset"]
    assert vm["ComputeTopology"] == {"Memory": {"SizeInMB": 2048}, "Processor": {"Count": 4}}
    devices = vm["Devices"]
    assert devices["Plan9"]["Shares"] == [
        {"Name": "src", "AccessName": "src", "Path": "/srv/src", "Port": 564, "AllowedFiles": ["a"]}
    ]
    assert devices["Scsi"]["0"]["Attachments"] == {
        "0": {"Type": "VirtualDisk", "Path": "/vm/root.vhdx"},
        "1": {"Type": "VirtualDisk", "Path": "/vm/data.vhdx", "ReadOnly": True},
    }
    assert devices["NetworkAdapters"] == {"eth0": {"EndpointId": ENDPOINT}}
    assert devices["ComPorts"] == {"0": {"NamedPipe": r"\\.\pipe\uvm-com1"}}
    table = devices["HvSocket"]["HvSocketConfig"]["ServiceTable"]
    assert list(table) == [SERVICE]
    assert vm["GuestConnection"] == {"UseVsock": True}


def test_linux_utility_vm_minimal() -> None:
    data = b.linux_utility_vm(kernel_path="/k", guest_connection=False).to_dict()
    vm = data["VirtualMachine"]
    assert vm["Devices"] == {}
    assert "GuestConnection" not in vm
    assert vm["Chipset"]["LinuxKernelDirect"] == {
        "KernelFilePath": "/k",
        "KernelCmdLine": "console=ttyS0",
    }
    with pytest.raises(ValueError, match="root"):
        b.linux_utility_vm(kernel_path="/k", kernel_cmdline="")


def test_uefi_vm_boots_from_scsi_vhd() -> None:
    doc = b.uefi_vm(
        vhd_path=r"C:\vms\win.vhdx",
        extra_disks=[b.scsi_disk(r"C:\iso\setup.iso", kind=AttachmentType.ISO)],
        network_adapters={
            "nic": b.network_adapter(
                endpoint_id=uuid.UUID(ENDPOINT), mac_address="00:15:5d:aa:bb:cc"
            )
        },
        secure_boot_template_id="1734c6e8-3154-4dda-ba5f-a874cc483422",
        smb_shares=[b.smb_share(name="share", host_path=r"C:\share", read_only=True)],
        guest_connection=True,
    )
    data = _revalidated(doc)
    vm = data["VirtualMachine"]
    assert isinstance(vm, dict)
    uefi = vm["Chipset"]["Uefi"]
    assert uefi["BootThis"] == {"DeviceType": "ScsiDrive", "DevicePath": "Primary", "DiskNumber": 0}
    assert uefi["ApplySecureBootTemplate"] == "Apply"
    assert uefi["SecureBootTemplateId"] == "1734c6e8-3154-4dda-ba5f-a874cc483422"
    attachments = vm["Devices"]["Scsi"]["Primary"]["Attachments"]
    assert attachments["0"] == {"Type": "VirtualDisk", "Path": r"C:\vms\win.vhdx"}
    assert attachments["1"] == {"Type": "Iso", "Path": r"C:\iso\setup.iso"}
    assert vm["Devices"]["NetworkAdapters"]["nic"] == {
        "EndpointId": ENDPOINT,
        "MacAddress": "00-15-5D-AA-BB-CC",
    }
    assert vm["Devices"]["VirtualSmb"]["Shares"] == [
        {"Name": "share", "Path": r"C:\share", "Options": {"ReadOnly": True, "ShareRead": True}}
    ]
    assert vm["GuestConnection"] == {}
    assert doc.virtual_machine is not None
    assert doc.virtual_machine.chipset is not None
    assert doc.virtual_machine.chipset.uefi is not None
    boot = doc.virtual_machine.chipset.uefi.boot_this
    assert boot is not None
    assert boot.device_type is UefiBootDevice.SCSI_DRIVE
    assert "GuestState" not in vm


def test_uefi_vm_guest_state_files() -> None:
    doc = b.uefi_vm(
        vhd_path=r"C:\vms\win.vhdx",
        guest_state_file=r"C:\vms\win.vmgs",
        runtime_state_file=r"C:\vms\win.vmrs",
    )
    vm = _revalidated(doc)["VirtualMachine"]
    assert isinstance(vm, dict)
    assert vm["GuestState"] == {
        "GuestStateFilePath": r"C:\vms\win.vmgs",
        "RuntimeStateFilePath": r"C:\vms\win.vmrs",
    }
    only_guest = b.uefi_vm(vhd_path=r"C:\vms\win.vhdx", guest_state_file=r"C:\vms\win.vmgs")
    assert _revalidated(only_guest)["VirtualMachine"]["GuestState"] == {  # type: ignore[index]
        "GuestStateFilePath": r"C:\vms\win.vmgs"
    }


def test_network_adapter_checks_mac_and_guid() -> None:
    with pytest.raises(ValueError, match="MAC"):
        b.network_adapter(endpoint_id=ENDPOINT, mac_address="00:15:5d")
    with pytest.raises(ValidationError, match="EndpointId"):
        b.network_adapter(endpoint_id="not-a-guid")


def test_hv_socket_config() -> None:
    custom = HvSocketServiceConfig(allow_wildcard_binds=True)
    cfg = b.hv_socket_config(
        services={SERVICE.upper(): custom, ENDPOINT: None},
        default_connect_security_descriptor="D:P",
    )
    data = cfg.to_dict()["HvSocketConfig"]
    assert data["DefaultBindSecurityDescriptor"] == b.SYSTEM_AND_ADMINS_SDDL
    assert data["DefaultConnectSecurityDescriptor"] == "D:P"
    assert data["ServiceTable"] == {
        SERVICE: {"AllowWildcardBinds": True},
        ENDPOINT: {
            "BindSecurityDescriptor": b.SYSTEM_AND_ADMINS_SDDL,
            "ConnectSecurityDescriptor": "D:P",
        },
    }
    with pytest.raises(ValueError, match="hexadecimal UUID"):
        b.hv_socket_config(services={"nope": None})


def test_sizes_are_checked() -> None:
    with pytest.raises(ValueError, match="positive"):
        b.empty_vm(memory_mb=0)
    with pytest.raises(ValidationError) as info:
        b.empty_vm(memory_mb=2**64)
    assert info.value.errors()[0]["loc"] == (
        "VirtualMachine",
        "ComputeTopology",
        "Memory",
        "SizeInMB",
    )
    with pytest.raises(ValidationError, match=r"ComputeTopology\.Processor\.Count"):
        b.linux_utility_vm(kernel_path="/k", processor_count=2**32)
    with pytest.raises(ValidationError) as info:
        b.hyperv_isolated_container(
            hosting_system_id="uvm", layers=["l"], scratch_path="s", memory_mb=-(2**70)
        )
    assert info.value.errors()[0]["loc"] == ("HostedSystem", "Container", "Memory", "SizeInMB")
    with pytest.raises(ValidationError, match="Port"):
        b.plan9_share(name="s", host_path="/", port=-1)


def test_hot_add_requests() -> None:
    nic = b.add_network_adapter_request("eth1", b.network_adapter(endpoint_id=ENDPOINT))
    assert isinstance(nic, ModifySettingRequest)
    assert _revalidated(nic) == {
        "ResourcePath": "VirtualMachine/Devices/NetworkAdapters/eth1",
        "RequestType": "Add",
        "Settings": {"EndpointId": ENDPOINT},
    }
    disk = b.add_scsi_disk_request(b.scsi_disk("/d.vhdx"), controller="0", lun=3)
    assert disk.to_dict() == {
        "ResourcePath": "VirtualMachine/Devices/Scsi/0/Attachments/3",
        "RequestType": "Add",
        "Settings": {"Type": "VirtualDisk", "Path": "/d.vhdx"},
    }


def test_builders_results_stay_editable_and_validated() -> None:
    doc = b.empty_vm()
    assert doc.virtual_machine is not None
    doc.virtual_machine.stop_on_reset = True
    assert doc.to_dict()["VirtualMachine"]["StopOnReset"] is True
    assert doc.virtual_machine.compute_topology is not None
    memory = doc.virtual_machine.compute_topology.memory
    assert memory is not None
    with pytest.raises(ValidationError):
        memory.size_in_mb = -5


# --------------------------------------------------------------------------- hcsim accepts them


def _hcsim_documents(disks: Path) -> list[tuple[str, ComputeSystem]]:
    # hcsim, as Windows, constructs no VM whose disks are missing: they exist in *disks*.
    for name in ("win.vhdx", "root.vhdx"):
        (disks / name).write_bytes(b"")
    return [
        ("empty-vm", b.empty_vm()),
        (
            "uefi-vm",
            b.uefi_vm(
                vhd_path=str(disks / "win.vhdx"),
                network_adapters={"nic": b.network_adapter(endpoint_id=ENDPOINT)},
                smb_shares=[b.smb_share(name="s", host_path=r"C:\s")],
                hv_socket=b.hv_socket_config(services={SERVICE: None}),
            ),
        ),
        (
            "linux-uvm",
            b.linux_utility_vm(
                kernel_path="/boot/vmlinuz",
                initrd_path="/boot/initrd.img",
                plan9_shares=[b.plan9_share(name="p", host_path="/p")],
                scsi_disks=[b.scsi_disk(str(disks / "root.vhdx"))],
            ),
        ),
        (
            "argon",
            b.process_isolated_container(layers=[r"C:\layers\base"], scratch_path=r"C:\scratch"),
        ),
    ]


@pytest.mark.anyio
async def test_hcsim_accepts_every_builder(tmp_path: Path) -> None:
    from aiohcs.system import ComputeSystem as System

    async with AsyncExitStack() as stack:
        for name, doc in _hcsim_documents(tmp_path):
            system = await stack.enter_async_context(await System.create(f"builders-{name}", doc))
            props = await system.properties()
            assert props.state == "Created", name
            assert props.owner == "aiohcs", name
            expected = "Container" if doc.container is not None else "VirtualMachine"
            assert props.system_type == expected, name
        # A Hyper-V isolated container inside the (created) Linux utility VM.
        hosted = b.hyperv_isolated_container(
            hosting_system_id="builders-linux-uvm", layers=[r"C:\l"], scratch_path=r"C:\s"
        )
        xenon = await stack.enter_async_context(await System.create("builders-xenon", hosted))
        props = await xenon.properties()
        assert props.state == "Created"
        assert props.hosting_system_id in (None, "builders-linux-uvm")
