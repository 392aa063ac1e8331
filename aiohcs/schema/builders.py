"""Ready-made HCS documents for the configurations people actually write.

Each ``*_container`` / ``*_vm`` function returns a validated
:class:`~aiohcs.schema.ComputeSystem` for HcsCreateComputeSystem; the smaller helpers
(:func:`layer`, :func:`network_adapter`, :func:`endpoint_adapters`, :func:`plan9_share`,
:func:`smb_share`, :func:`hv_socket_config`, :func:`scsi_disk`) build the pieces those
functions take, and
:func:`add_network_adapter_request` / :func:`add_scsi_disk_request` wrap a piece into a
:class:`~aiohcs.schema.ModifySettingRequest` for hot-adding it to a running VM.

All arguments are keyword-only. Sizes are MiB. The results are ordinary models: change
anything afterwards (assignments are validated) and send ``doc.to_json()``.
"""

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from aiohcs.schema import (
    ApplySecureBootTemplateType,
    Attachment,
    AttachmentType,
    ComputeSystem,
    HostedSystem,
    HvSocketServiceConfig,
    Layer,
    MappedDirectory,
    ModifyRequestType,
    ModifySettingRequest,
    NetworkAdapter,
    Plan9Share,
    UefiBootDevice,
    VirtualMachine_HvSocket,
    VirtualSmbShare,
)

__all__ = [
    "DEFAULT_OWNER",
    "DEFAULT_SCHEMA_VERSION",
    "Mount",
    "add_network_adapter_request",
    "add_scsi_disk_request",
    "empty_vm",
    "endpoint_adapters",
    "hv_socket_config",
    "hyperv_isolated_container",
    "layer",
    "linux_utility_vm",
    "network_adapter",
    "plan9_share",
    "process_isolated_container",
    "scsi_disk",
    "smb_share",
    "uefi_vm",
]

#: Schema version the builders declare (2.1: the first the documentation's samples use).
DEFAULT_SCHEMA_VERSION = (2, 1)
#: ``Owner`` the builders set unless told otherwise.
DEFAULT_OWNER = "aiohcs"
#: Security descriptor granting SYSTEM and Administrators full access (hvsocket defaults).
SYSTEM_AND_ADMINS_SDDL = "D:P(A;;FA;;;SY)(A;;FA;;;BA)"

# Namespace for the layer ids derived from layer paths by :func:`layer`.
_LAYER_NAMESPACE = uuid.UUID("6d0f5d3c-6f0b-4f5e-9a55-61696f686373")
_MAC_RE = re.compile(r"^[0-9A-Fa-f]{2}([-:])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}$")


@dataclass(frozen=True)
class Mount:
    """A host directory shown inside a container (:class:`MappedDirectory`)."""

    host_path: str
    container_path: str
    read_only: bool = False

    def to_model(self) -> MappedDirectory:
        """The schema model for this mount."""
        return MappedDirectory.model_validate(
            {
                "HostPath": self.host_path,
                "ContainerPath": self.container_path,
                "ReadOnly": self.read_only,
            }
        )


Doc = dict[str, Any]

#: An HCN endpoint as the builders take it: its id (``uuid.UUID`` or text), or an object
#: with an ``id`` (an open :class:`aiohcs.hcn.Endpoint` or namespace).
EndpointRef = Any


def _ref_id(ref: EndpointRef, what: str) -> str:
    """The id of an endpoint or namespace given as an id or an object with ``.id``."""
    value = getattr(ref, "id", ref)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value.strip("{}")))
        except ValueError:
            pass
    raise ValueError(f"{what} must be a GUID or an object with one as .id, not {ref!r}")


def _doc(**members: Any) -> Doc:
    """A JSON object with the members that are not ``None`` (keys are JSON names)."""
    return {k: v for k, v in members.items() if v is not None}


def _version(version: tuple[int, int]) -> Doc:
    return {"Major": version[0], "Minor": version[1]}


def _system(
    *,
    owner: str,
    schema_version: tuple[int, int],
    terminate_on_last_handle_closed: bool,
    **members: Any,
) -> ComputeSystem:
    # Validating the whole document at once makes errors name the full JSON path
    # (``VirtualMachine.ComputeTopology.Memory.SizeInMB``).
    return ComputeSystem.model_validate(
        _doc(
            Owner=owner,
            SchemaVersion=_version(schema_version),
            ShouldTerminateOnLastHandleClosed=terminate_on_last_handle_closed,
            **members,
        )
    )


def layer(path: str, *, layer_id: str | uuid.UUID | None = None) -> Layer:
    """A container image layer at *path*.

    Without *layer_id*, a stable GUID is derived from the path (the same path, ignoring case,
    always gives the same id).
    """
    if layer_id is None:
        layer_id = uuid.uuid5(_LAYER_NAMESPACE, path.lower())
    return Layer.model_validate({"Id": str(layer_id), "Path": path})


def _layers(layers: Sequence[Layer | str]) -> list[Layer]:
    if not layers:
        raise ValueError("a container needs at least one image layer")
    return [item if isinstance(item, Layer) else layer(item) for item in layers]


def _container(
    *,
    layers: Sequence[Layer | str],
    scratch_path: str,
    hostname: str | None,
    mounts: Sequence[Mount | MappedDirectory],
    memory_mb: int | None,
    processor_count: int | None,
    network_namespace: EndpointRef | None,
    network_endpoints: Sequence[EndpointRef] = (),
) -> Doc:
    networking = _doc(
        Namespace=None if network_namespace is None else _ref_id(network_namespace, "namespace"),
        NetworkAdapters=[_ref_id(e, "endpoint") for e in network_endpoints] or None,
    )
    return _doc(
        GuestOs=_doc(HostName=hostname) if hostname is not None else None,
        Storage=_doc(Layers=_layers(layers), Path=scratch_path),
        MappedDirectories=[m.to_model() if isinstance(m, Mount) else m for m in mounts] or None,
        Memory=_doc(SizeInMB=memory_mb) if memory_mb is not None else None,
        Processor=_doc(Count=processor_count) if processor_count is not None else None,
        Networking=networking or None,
    )


def process_isolated_container(
    *,
    layers: Sequence[Layer | str],
    scratch_path: str,
    hostname: str | None = None,
    mounts: Sequence[Mount | MappedDirectory] = (),
    memory_mb: int | None = None,
    processor_count: int | None = None,
    network_namespace: EndpointRef | None = None,
    network_endpoints: Sequence[EndpointRef] = (),
    owner: str = DEFAULT_OWNER,
    schema_version: tuple[int, int] = DEFAULT_SCHEMA_VERSION,
    terminate_on_last_handle_closed: bool = True,
) -> ComputeSystem:
    """A Windows Server container sharing the host kernel.

    *layers* are the image's read-only layers, topmost first (paths or :func:`layer` results);
    *scratch_path* is the mounted volume of the writable scratch layer. *network_namespace*
    (an HCN namespace or its id) and *network_endpoints* (HCN endpoints or their ids) give
    it its network: each must exist when the container starts.
    """
    return _system(
        owner=owner,
        schema_version=schema_version,
        terminate_on_last_handle_closed=terminate_on_last_handle_closed,
        Container=_container(
            layers=layers,
            scratch_path=scratch_path,
            hostname=hostname,
            mounts=mounts,
            memory_mb=memory_mb,
            processor_count=processor_count,
            network_namespace=network_namespace,
            network_endpoints=network_endpoints,
        ),
    )


def hyperv_isolated_container(
    *,
    hosting_system_id: str,
    layers: Sequence[Layer | str],
    scratch_path: str,
    hostname: str | None = None,
    mounts: Sequence[Mount | MappedDirectory] = (),
    memory_mb: int | None = None,
    processor_count: int | None = None,
    network_namespace: EndpointRef | None = None,
    network_endpoints: Sequence[EndpointRef] = (),
    owner: str = DEFAULT_OWNER,
    schema_version: tuple[int, int] = DEFAULT_SCHEMA_VERSION,
    terminate_on_last_handle_closed: bool = True,
) -> ComputeSystem:
    """A container running inside the utility VM *hosting_system_id* (already created).

    The container goes into ``HostedSystem`` (validated as a :class:`HostedSystem`); layer and
    scratch paths are as the utility VM sees them. *network_namespace* and
    *network_endpoints* as for :func:`process_isolated_container`.
    """
    if not hosting_system_id:
        raise ValueError("hosting_system_id must name the utility VM")
    hosted = _doc(
        SchemaVersion=_version(schema_version),
        Container=_container(
            layers=layers,
            scratch_path=scratch_path,
            hostname=hostname,
            mounts=mounts,
            memory_mb=memory_mb,
            processor_count=processor_count,
            network_namespace=network_namespace,
            network_endpoints=network_endpoints,
        ),
    )
    try:
        hosted_model = HostedSystem.model_validate(hosted)
    except ValidationError as exc:  # name the path from the top of the document
        raise ValidationError.from_exception_data(
            "ComputeSystem",
            [
                {
                    "type": err["type"],
                    "loc": ("HostedSystem", *err["loc"]),
                    "input": err["input"],
                    "ctx": err.get("ctx", {}),
                }
                for err in exc.errors()
            ],
        ) from None
    return _system(
        owner=owner,
        schema_version=schema_version,
        terminate_on_last_handle_closed=terminate_on_last_handle_closed,
        HostingSystemId=hosting_system_id,
        HostedSystem=hosted_model,
    )


def network_adapter(
    *, endpoint_id: str | uuid.UUID, mac_address: str | None = None
) -> NetworkAdapter:
    """A VM network adapter attached to the HNS endpoint *endpoint_id*.

    *mac_address* may use ``-`` or ``:``; it is sent as HCS writes it (``00-15-5D-...``).
    """
    mac = None
    if mac_address is not None:
        if not _MAC_RE.match(mac_address):
            raise ValueError(f"not a MAC address: {mac_address!r}")
        mac = mac_address.replace(":", "-").upper()
    return NetworkAdapter.model_validate(_doc(EndpointId=str(endpoint_id), MacAddress=mac))


def endpoint_adapters(*endpoints: EndpointRef) -> dict[str, NetworkAdapter]:
    """VM network adapters for HCN *endpoints* (ids or endpoint objects), keyed by endpoint id.

    For the ``network_adapters`` of :func:`uefi_vm` and :func:`linux_utility_vm`; each
    endpoint must exist when the VM starts (HCS fails the start otherwise).
    """
    adapters: dict[str, NetworkAdapter] = {}
    for ref in endpoints:
        eid = _ref_id(ref, "endpoint")
        if eid in adapters:
            raise ValueError(f"endpoint {eid} is given twice")
        adapters[eid] = network_adapter(endpoint_id=eid)
    return adapters


def scsi_disk(
    path: str, *, read_only: bool = False, kind: AttachmentType = AttachmentType.VIRTUAL_DISK
) -> Attachment:
    """A SCSI attachment: a VHD/VHDX (default), an ISO or a pass-through disk."""
    return Attachment.model_validate(_doc(Type=kind, Path=path, ReadOnly=read_only or None))


def plan9_share(
    *,
    name: str,
    host_path: str,
    access_name: str | None = None,
    port: int = 564,
    allowed_files: Sequence[str] = (),
) -> Plan9Share:
    """A host directory exported to a Linux guest over Plan 9 (vsock *port*)."""
    return Plan9Share.model_validate(
        _doc(
            Name=name,
            AccessName=access_name if access_name is not None else name,
            Path=host_path,
            Port=port,
            AllowedFiles=list(allowed_files) or None,
        )
    )


def smb_share(
    *, name: str, host_path: str, read_only: bool = False, cache_io: bool = False
) -> VirtualSmbShare:
    """A host directory exported to a Windows guest over virtual SMB."""
    return VirtualSmbShare.model_validate(
        _doc(
            Name=name,
            Path=host_path,
            Options=_doc(
                ReadOnly=read_only or None, ShareRead=read_only or None, CacheIo=cache_io or None
            ),
        )
    )


def hv_socket_config(
    *,
    services: Mapping[str, HvSocketServiceConfig | None] | None = None,
    default_bind_security_descriptor: str = SYSTEM_AND_ADMINS_SDDL,
    default_connect_security_descriptor: str = SYSTEM_AND_ADMINS_SDDL,
) -> VirtualMachine_HvSocket:
    """Hyper-V socket settings of a VM: default security descriptors and per-service ones.

    *services* maps service GUIDs to their settings; ``None`` means "allow binds and connects
    with the defaults".
    """
    table = {
        str(uuid.UUID(key)): (
            value
            if value is not None
            else _doc(
                BindSecurityDescriptor=default_bind_security_descriptor,
                ConnectSecurityDescriptor=default_connect_security_descriptor,
            )
        )
        for key, value in (services or {}).items()
    }
    return VirtualMachine_HvSocket.model_validate(
        {
            "HvSocketConfig": _doc(
                DefaultBindSecurityDescriptor=default_bind_security_descriptor,
                DefaultConnectSecurityDescriptor=default_connect_security_descriptor,
                ServiceTable=table or None,
            )
        }
    )


def _topology(memory_mb: int, processor_count: int) -> Doc:
    if memory_mb <= 0 or processor_count <= 0:
        raise ValueError("memory_mb and processor_count must be positive")
    return {"Memory": {"SizeInMB": memory_mb}, "Processor": {"Count": processor_count}}


def _com_ports(console_pipe: str | None) -> Doc | None:
    return {"0": {"NamedPipe": console_pipe}} if console_pipe is not None else None


def empty_vm(
    *,
    memory_mb: int = 1024,
    processor_count: int = 1,
    owner: str = DEFAULT_OWNER,
    schema_version: tuple[int, int] = DEFAULT_SCHEMA_VERSION,
    terminate_on_last_handle_closed: bool = True,
) -> ComputeSystem:
    """The minimal VM of the HCS documentation: UEFI firmware, memory, processors, no devices.

    It boots to the firmware and stays there -- enough to exercise the lifecycle calls. It
    has no guest connection, so HCS can neither run processes in it nor shut it down
    gracefully (both fail with ERROR_NOT_SUPPORTED; terminate it). For those, use a VM
    with a guest connection: :func:`linux_utility_vm` (the default) or
    ``uefi_vm(guest_connection=True)``.
    """
    return _system(
        owner=owner,
        schema_version=schema_version,
        terminate_on_last_handle_closed=terminate_on_last_handle_closed,
        VirtualMachine={
            "Chipset": {"Uefi": {}},
            "ComputeTopology": _topology(memory_mb, processor_count),
            "Devices": {},
        },
    )


def uefi_vm(
    *,
    vhd_path: str,
    memory_mb: int = 2048,
    processor_count: int = 2,
    scsi_controller: str = "Primary",
    extra_disks: Sequence[Attachment] = (),
    network_adapters: Mapping[str, NetworkAdapter] | None = None,
    secure_boot_template_id: str | uuid.UUID | None = None,
    console_pipe: str | None = None,
    smb_shares: Sequence[VirtualSmbShare] = (),
    hv_socket: VirtualMachine_HvSocket | None = None,
    guest_connection: bool = False,
    guest_state_file: str | None = None,
    runtime_state_file: str | None = None,
    owner: str = DEFAULT_OWNER,
    schema_version: tuple[int, int] = DEFAULT_SCHEMA_VERSION,
    terminate_on_last_handle_closed: bool = True,
) -> ComputeSystem:
    r"""A UEFI VM booting from the VHD(X) *vhd_path*, attached as LUN 0 of a SCSI controller.

    *extra_disks* take LUNs 1, 2, ...; *network_adapters* maps adapter names to
    :func:`network_adapter` results; *console_pipe* (``\\.\pipe\name``) receives COM1.
    The disk files must exist: HCS does not create a VM whose disks are missing. With
    *guest_connection*, HCS talks to the guest's agent, which processes and a graceful
    shutdown need. *guest_state_file* and *runtime_state_file* (made with
    :func:`aiohcs.access.create_empty_guest_state_file` and
    :func:`aiohcs.access.create_empty_runtime_state_file`) become the VM's ``GuestState``.
    Each file must also be granted to the VM (:func:`aiohcs.access.grant_vm_access`).
    """
    attachments: dict[str, Attachment] = {"0": scsi_disk(vhd_path)}
    attachments.update({str(lun): disk for lun, disk in enumerate(extra_disks, start=1)})
    uefi = _doc(
        BootThis={
            "DeviceType": UefiBootDevice.SCSI_DRIVE,
            "DevicePath": scsi_controller,
            "DiskNumber": 0,
        },
    )
    if secure_boot_template_id is not None:
        uefi["SecureBootTemplateId"] = str(secure_boot_template_id)
        uefi["ApplySecureBootTemplate"] = ApplySecureBootTemplateType.APPLY
    return _system(
        owner=owner,
        schema_version=schema_version,
        terminate_on_last_handle_closed=terminate_on_last_handle_closed,
        VirtualMachine=_doc(
            Chipset={"Uefi": uefi},
            ComputeTopology=_topology(memory_mb, processor_count),
            Devices=_doc(
                Scsi={scsi_controller: {"Attachments": attachments}},
                NetworkAdapters=dict(network_adapters) if network_adapters else None,
                ComPorts=_com_ports(console_pipe),
                VirtualSmb={"Shares": list(smb_shares)} if smb_shares else None,
                HvSocket=hv_socket,
            ),
            GuestConnection={} if guest_connection else None,
            GuestState=_doc(
                GuestStateFilePath=guest_state_file, RuntimeStateFilePath=runtime_state_file
            )
            or None,
        ),
    )


def linux_utility_vm(
    *,
    kernel_path: str,
    initrd_path: str | None = None,
    kernel_cmdline: str = "console=ttyS0",
    memory_mb: int = 1024,
    processor_count: int = 2,
    plan9_shares: Sequence[Plan9Share] = (),
    scsi_disks: Sequence[Attachment] = (),
    network_adapters: Mapping[str, NetworkAdapter] | None = None,
    hv_socket: VirtualMachine_HvSocket | None = None,
    console_pipe: str | None = None,
    guest_connection: bool = True,
    owner: str = DEFAULT_OWNER,
    schema_version: tuple[int, int] = DEFAULT_SCHEMA_VERSION,
    terminate_on_last_handle_closed: bool = True,
) -> ComputeSystem:
    """A Linux VM booted straight into *kernel_path* (LinuxKernelDirect, 1903 on).

    *scsi_disks* become LUNs 0, 1, ... of controller "0"; *plan9_shares* come from
    :func:`plan9_share`. With *guest_connection* (default) HCS talks to the guest agent over
    vsock, and Start completes only once the agent is up.
    """
    if initrd_path is None and not kernel_cmdline:
        raise ValueError("without an initrd the kernel command line must name a root device")
    scsi = {str(lun): disk for lun, disk in enumerate(scsi_disks)}
    return _system(
        owner=owner,
        schema_version=schema_version,
        terminate_on_last_handle_closed=terminate_on_last_handle_closed,
        VirtualMachine=_doc(
            Chipset={
                "LinuxKernelDirect": _doc(
                    KernelFilePath=kernel_path, InitRdPath=initrd_path, KernelCmdLine=kernel_cmdline
                )
            },
            ComputeTopology=_topology(memory_mb, processor_count),
            Devices=_doc(
                Scsi={"0": {"Attachments": scsi}} if scsi else None,
                Plan9={"Shares": list(plan9_shares)} if plan9_shares else None,
                NetworkAdapters=dict(network_adapters) if network_adapters else None,
                HvSocket=hv_socket,
                ComPorts=_com_ports(console_pipe),
            ),
            GuestConnection={"UseVsock": True} if guest_connection else None,
        ),
    )


def add_network_adapter_request(name: str, adapter: NetworkAdapter) -> ModifySettingRequest:
    """HcsModifyComputeSystem document hot-adding *adapter* to a VM under the key *name*."""
    return ModifySettingRequest.model_validate(
        {
            "ResourcePath": f"VirtualMachine/Devices/NetworkAdapters/{name}",
            "RequestType": ModifyRequestType.ADD,
            "Settings": adapter,
        }
    )


def add_scsi_disk_request(
    disk: Attachment, *, controller: str = "0", lun: int = 0
) -> ModifySettingRequest:
    """HcsModifyComputeSystem document hot-adding *disk* at *controller*/*lun* of a VM."""
    return ModifySettingRequest.model_validate(
        {
            "ResourcePath": f"VirtualMachine/Devices/Scsi/{controller}/Attachments/{lun}",
            "RequestType": ModifyRequestType.ADD,
            "Settings": disk,
        }
    )
