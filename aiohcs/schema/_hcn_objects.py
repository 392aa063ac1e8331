"""HCN objects: networks, endpoints, namespaces, load balancers, routes, queries, requests.

Hand-written; re-exported by :mod:`aiohcs.schema.hcn`. Sources per group in comments:
"hcsshim" is microsoft/hcsshim's ``hcn`` package; "schema page" is
https://learn.microsoft.com/en-us/windows-server/networking/technologies/hcn/hcn-json-document-schemas
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, ClassVar

from pydantic import Field, ValidationInfo, field_validator, model_validator

from aiohcs.schema._base import UInt16, UInt32
from aiohcs.schema._hcn_base import (
    U32,
    H,
    HcnGuid,
    HcnModel,
    IpAddress,
    IpPrefix,
    MacAddress,
    OpenIntEnum,
    OpenStrEnum,
    PortNumber,
    SchemaVersion,
    UInt32Flags,
    overlaps,
    v2,
)
from aiohcs.schema._hcn_policy import (
    EndpointPolicy,
    NetworkPolicy,
    PolicyEndpointRequest,
    PolicyNetworkRequest,
    SDNRoutePolicySetting,
    SubnetPolicy,
    typed_payload,
)

# --- shared: routes, DNS, health (hcsshim hcn/hcnnetwork.go Route, Dns; hcn/hcn.go Health,
# ExtraParams; schema page: Dns "Suffix", Route "Metric") -------------------------------------


class Route(HcnModel):
    """A route of a subnet or an endpoint: ``NextHop``, ``DestinationPrefix``, ``Metric``."""

    next_hop: IpAddress | None = H("NextHop")
    destination_prefix: IpPrefix | None = H("DestinationPrefix")
    metric: UInt16 | None = H("Metric")

    @model_validator(mode="after")
    def _same_family(self) -> Route:
        if self.next_hop is not None and self.destination_prefix is not None:
            hop = ipaddress.ip_address(self.next_hop)
            dest = ipaddress.ip_network(self.destination_prefix)
            if hop.version != dest.version:
                raise ValueError(
                    f"NextHop {self.next_hop} and DestinationPrefix "
                    f"{self.destination_prefix} are of different IP versions"
                )
        return self


class Dns(HcnModel):
    """DNS settings of a network or an endpoint."""

    domain: str | None = H("Domain")
    #: The schema page's name for the connection-specific suffix (hcsshim writes Domain).
    suffix: str | None = H("Suffix")
    search: list[str] | None = H("Search")
    server_list: list[IpAddress] | None = H("ServerList")
    options: list[str] | None = H("Options")


class ExtraParams(HcnModel):
    """``Health.Extra`` of a network or endpoint (as HNS returns it)."""

    resources: Any = H("Resources")
    shared_containers: Any = H("SharedContainers")
    layered_on: str | None = H("LayeredOn")
    switch_guid: str | None = H("SwitchGuid")
    utility_vm: str | None = H("UtilityVM")
    virtual_machine: str | None = H("VirtualMachine")


class Health(HcnModel):
    """``Health`` of a network or endpoint (read-only, from HNS)."""

    data: Any = H("Data")
    extra: ExtraParams | None = H("Extra")


# --- network (hcsshim hcn/hcnnetwork.go; schema page "HCN schema") ---------------------------


class NetworkType(OpenStrEnum):
    """``Type`` of a network (hcsshim's list; the schema page lists NAT, ICS, Transparent)."""

    NAT = "NAT"
    TRANSPARENT = "Transparent"
    L2_BRIDGE = "L2Bridge"
    L2_TUNNEL = "L2Tunnel"
    ICS = "ICS"
    PRIVATE = "Private"
    OVERLAY = "Overlay"


class NetworkFlags(UInt32Flags):
    """``Flags`` of a network (a 32-bit mask; unknown bits are kept).

    hcsshim: EnableNonPersistent 8, DisableHostPort 1024 (HNS 15.1), EnableIov 8192. The
    schema page: EnableDnsProxy 1, EnableDhcpServer 2, IsolateVSwitch 8 (8 has two names).
    """

    NONE = 0
    ENABLE_DNS_PROXY = 1
    ENABLE_DHCP_SERVER = 2
    ENABLE_NON_PERSISTENT = 8
    ISOLATE_VSWITCH = 8
    DISABLE_HOST_PORT = 1024
    ENABLE_IOV = 8192


class SubnetFlags(UInt32Flags):
    """``Flags`` of a subnet (hcsshim hcnnetwork.go)."""

    NONE = 0
    DO_NOT_RESERVE_GATEWAY_ADDRESS = 1


class IpamType(OpenStrEnum):
    """``Type`` of an IPAM block (schema page: Static, Dhcp)."""

    STATIC = "Static"
    DHCP = "Dhcp"


class Subnet(HcnModel):
    """A subnet of an IPAM block: its prefix, policies, routes (the gateway) and flags.

    Only the members' syntax is checked: a route's ``NextHop`` outside the subnet is
    accepted, as nothing shows HNS refusing one (and a document from the host must parse).
    """

    ip_address_prefix: IpPrefix | None = H("IpAddressPrefix")
    policies: list[SubnetPolicy] | None = H("Policies")
    routes: list[Route] | None = H("Routes")
    flags: Annotated[SubnetFlags, U32] | None = H("Flags")


class Ipam(HcnModel):
    """An address-management block of a network: its type and subnets."""

    type: IpamType | None = H("Type")
    subnets: list[Subnet] | None = H("Subnets")


class MacRange(HcnModel):
    """A range of MAC addresses endpoints of a network get theirs from."""

    start_mac_address: MacAddress | None = H("StartMacAddress")
    end_mac_address: MacAddress | None = H("EndMacAddress")

    @model_validator(mode="after")
    def _ordered(self) -> MacRange:
        start, end = self.start_mac_address, self.end_mac_address
        if start is not None and end is not None and _mac_int(start) > _mac_int(end):
            raise ValueError(f"StartMacAddress {start} is after EndMacAddress {end}")
        return self


def _mac_int(mac: str) -> int:
    return int(mac.replace("-", "").replace(":", ""), 16)


class MacPool(HcnModel):
    """The MAC pool of a network."""

    ranges: list[MacRange] | None = H("Ranges")


class HostComputeNetwork(HcnModel):
    """An HCN network (``HcnCreateNetwork`` settings, ``HcnQueryNetworkProperties`` result).

    Checks: prefixes are valid CIDR, gateways lie in their subnet, no two subnets of the
    network overlap.
    """

    id: HcnGuid | None = H("ID", "Id")
    name: str | None = H("Name")
    owner: str | None = H("Owner")
    type: NetworkType | None = H("Type")
    policies: list[NetworkPolicy] | None = H("Policies")
    mac_pool: MacPool | None = H("MacPool")
    dns: Dns | None = H("Dns")
    ipams: list[Ipam] | None = H("Ipams")
    flags: Annotated[NetworkFlags, U32] | None = H("Flags")
    health: Health | None = H("Health")
    schema_version: SchemaVersion | None = H("SchemaVersion")

    @model_validator(mode="after")
    def _disjoint_subnets(self) -> HostComputeNetwork:
        seen: list[str] = []
        for ipam in self.ipams or ():
            for subnet in ipam.subnets or ():
                prefix = subnet.ip_address_prefix
                if prefix is None:
                    continue
                for other in seen:
                    if overlaps(prefix, other):
                        raise ValueError(f"subnets {other} and {prefix} overlap")
                seen.append(prefix)
        return self


# --- endpoint (hcsshim hcn/hcnendpoint.go; schema page "HCN endpoint schema") ----------------


class EndpointFlags(UInt32Flags):
    """``Flags`` of an endpoint (hcsshim: RemoteEndpoint 1; schema page: 2)."""

    NONE = 0
    REMOTE_ENDPOINT = 1
    DISABLE_INTER_COMPUTE_COMMUNICATION = 2


class IpConfig(HcnModel):
    """An address of an endpoint; ``PrefixLength`` is 0..32 (IPv4) or 0..128 (IPv6)."""

    ip_address: IpAddress | None = H("IpAddress", "IPAddress")
    prefix_length: Annotated[int, Field(ge=0, le=128)] | None = H("PrefixLength")

    @model_validator(mode="after")
    def _prefix_fits(self) -> IpConfig:
        if self.ip_address is not None and self.prefix_length is not None:
            bits = ipaddress.ip_address(self.ip_address).max_prefixlen
            if self.prefix_length > bits:
                raise ValueError(
                    f"PrefixLength {self.prefix_length} is out of range 0..{bits} "
                    f"for {self.ip_address}"
                )
        return self


class HostComputeEndpoint(HcnModel):
    """An HCN endpoint (``HcnCreateEndpoint`` settings, query result).

    Checks: no address appears twice in ``IpConfigurations``.
    """

    id: HcnGuid | None = H("ID", "Id")
    name: str | None = H("Name")
    owner: str | None = H("Owner")
    host_compute_network: HcnGuid | None = H("HostComputeNetwork")
    host_compute_namespace: HcnGuid | None = H("HostComputeNamespace")
    policies: list[EndpointPolicy] | None = H("Policies")
    ip_configurations: list[IpConfig] | None = H("IpConfigurations", "IPConfigurations")
    dns: Dns | None = H("Dns")
    routes: list[Route] | None = H("Routes")
    mac_address: MacAddress | None = H("MacAddress")
    flags: Annotated[EndpointFlags, U32] | None = H("Flags")
    health: Health | None = H("Health")
    schema_version: SchemaVersion | None = H("SchemaVersion")

    @model_validator(mode="after")
    def _unique_addresses(self) -> HostComputeEndpoint:
        seen: set[str] = set()
        for config in self.ip_configurations or ():
            if config.ip_address is None:
                continue
            if config.ip_address in seen:
                raise ValueError(f"IpConfigurations names {config.ip_address} twice")
            seen.add(config.ip_address)
        return self


# --- namespace (hcsshim hcn/hcnnamespace.go) --------------------------------------------------


class NamespaceType(OpenStrEnum):
    """``Type`` of a namespace (network compartment)."""

    HOST = "Host"
    HOST_DEFAULT = "HostDefault"
    GUEST = "Guest"
    GUEST_DEFAULT = "GuestDefault"


class NamespaceResourceType(OpenStrEnum):
    """What a namespace resource (or a namespace modify request) is about."""

    CONTAINER = "Container"
    ENDPOINT = "Endpoint"


class NamespaceResourceEndpoint(HcnModel):
    """``{"ID": <endpoint GUID>}``: an endpoint in a namespace."""

    id: HcnGuid | None = H("ID", "Id")


class NamespaceResourceContainer(HcnModel):
    """``{"ID": <container id>}``: a container in a namespace (any HCS system id)."""

    id: str | None = H("ID", "Id")


_NAMESPACE_RESOURCES: dict[str, type[HcnModel]] = {
    "Endpoint": NamespaceResourceEndpoint,
    "Container": NamespaceResourceContainer,
}


class NamespaceResource(HcnModel):
    """A resource of a namespace: ``Type`` and ``Data`` (typed for Endpoint, Container)."""

    type: NamespaceResourceType | None = H("Type")
    data: Any = H("Data")

    @field_validator("data")
    @classmethod
    def _type_data(cls, value: Any, info: ValidationInfo) -> Any:
        return typed_payload(value, info.data.get("type"), _NAMESPACE_RESOURCES)


class HostComputeNamespace(HcnModel):
    """An HCN namespace; ``SchemaVersion`` defaults to 2.0 as hcsshim's NewNamespace sets."""

    id: HcnGuid | None = H("ID", "Id")
    namespace_id: UInt32 | None = H("NamespaceId")
    type: NamespaceType | None = H("Type")
    resources: list[NamespaceResource] | None = H("Resources")
    schema_version: SchemaVersion | None = Field(
        default_factory=v2, validation_alias="SchemaVersion", serialization_alias="SchemaVersion"
    )


# --- load balancer (hcsshim hcn/hcnloadbalancer.go) -------------------------------------------


class LoadBalancerFlags(UInt32Flags):
    """``Flags`` of a load balancer: DSR 1 (HNS 9.3+/10.2+), IPv6 2."""

    NONE = 0
    DSR = 1
    IPV6 = 2


class LoadBalancerPortMappingFlags(UInt32Flags):
    """``Flags`` of a load balancer port mapping."""

    NONE = 0
    ILB = 1
    LOCAL_ROUTED_VIP = 2
    USE_MUX = 4
    PRESERVE_DIP = 8


class LoadBalancerDistribution(OpenIntEnum):
    """``DistributionType``: per connection 0, per client IP and protocol 1, per client IP 2."""

    NONE = 0
    SOURCE_IP_PROTOCOL = 1
    SOURCE_IP = 2


class LoadBalancerPortMapping(HcnModel):
    """A port of a load balancer (``Protocol``: 6 TCP, 17 UDP)."""

    protocol: UInt32 | None = H("Protocol")
    internal_port: PortNumber | None = H("InternalPort")
    external_port: PortNumber | None = H("ExternalPort")
    distribution_type: Annotated[LoadBalancerDistribution, U32] | None = H("DistributionType")
    flags: Annotated[LoadBalancerPortMappingFlags, U32] | None = H("Flags")


class HostComputeLoadBalancer(HcnModel):
    """An HCN load balancer; ``SchemaVersion`` defaults to 2.0 (hcsshim AddLoadBalancer)."""

    id: HcnGuid | None = H("ID", "Id")
    host_compute_endpoints: list[HcnGuid] | None = H("HostComputeEndpoints")
    source_vip: IpAddress | None = H("SourceVIP")
    frontend_vips: list[IpAddress] | None = H("FrontendVIPs")
    port_mappings: list[LoadBalancerPortMapping] | None = H("PortMappings")
    schema_version: SchemaVersion | None = Field(
        default_factory=v2, validation_alias="SchemaVersion", serialization_alias="SchemaVersion"
    )
    flags: Annotated[LoadBalancerFlags, U32] | None = H("Flags")


# --- SDN route (hcsshim hcn/hcnroute.go) ------------------------------------------------------


class HostComputeRoute(HcnModel):
    """An SDN route object (HNS V2 ``/routes``); ``SchemaVersion`` defaults to 2.0."""

    id: HcnGuid | None = H("ID", "Id")
    host_compute_endpoints: list[HcnGuid] | None = H("HostComputeEndpoints")
    setting: list[SDNRoutePolicySetting] | None = H("Setting")
    schema_version: SchemaVersion | None = Field(
        default_factory=v2, validation_alias="SchemaVersion", serialization_alias="SchemaVersion"
    )


# --- queries (hcsshim hcn/hcn.go HostComputeQuery, defaultQuery) ------------------------------


class HostComputeQueryFlags(UInt32Flags):
    """``Flags`` of a query: 0 standard properties, 1 (Detailed) every property."""

    NONE = 0
    DETAILED = 1


class HostComputeQuery(HcnModel):
    """The query of the enumerate and query-properties calls.

    ``SchemaVersion`` defaults to 2.0 (hcsshim's defaultQuery); ``Filter`` is JSON text of
    member/value pairs (e.g. ``'{"Name": "nat"}'``).
    """

    schema_version: SchemaVersion | None = Field(
        default_factory=v2, validation_alias="SchemaVersion", serialization_alias="SchemaVersion"
    )
    flags: Annotated[HostComputeQueryFlags, U32] | None = H("Flags")
    filter: str | None = H("Filter")


# --- modify requests (hcsshim hcn/hcn.go RequestType; hcnnetwork.go, hcnendpoint.go,
# hcnnamespace.go Modify*SettingRequest) ---------------------------------------------------


class RequestType(OpenStrEnum):
    """``RequestType`` of a modify request."""

    ADD = "Add"
    REMOVE = "Remove"
    UPDATE = "Update"
    REFRESH = "Refresh"


class NetworkResourceType(OpenStrEnum):
    """``ResourceType`` of a network modify request."""

    POLICY = "Policy"
    DNS = "DNS"
    EXTENSION = "Extension"


class EndpointResourceType(OpenStrEnum):
    """``ResourceType`` of an endpoint modify request."""

    POLICY = "Policy"
    PORT = "Port"


class VmEndpointRequest(HcnModel):
    """``Settings`` of an endpoint modify request with ``ResourceType`` ``Port``."""

    port_id: HcnGuid | None = H("PortId")
    virtual_nic_name: str | None = H("VirtualNicName")
    virtual_machine_id: HcnGuid | None = H("VirtualMachineId")


class _ModifyRequest(HcnModel):
    _settings_table: ClassVar[dict[str, type[HcnModel]]] = {}

    @field_validator("settings", check_fields=False)
    @classmethod
    def _type_settings(cls, value: Any, info: ValidationInfo) -> Any:
        return typed_payload(value, info.data.get("resource_type"), cls._settings_table)


class ModifyNetworkSettingRequest(_ModifyRequest):
    """The request of ``HcnModifyNetwork`` (Settings typed for Policy and DNS)."""

    _settings_table: ClassVar[dict[str, type[HcnModel]]] = {
        "Policy": PolicyNetworkRequest,
        "DNS": Dns,
    }

    resource_type: NetworkResourceType | None = H("ResourceType")
    request_type: RequestType | None = H("RequestType")
    settings: Any = H("Settings")


class ModifyEndpointSettingRequest(_ModifyRequest):
    """The request of ``HcnModifyEndpoint`` (Settings typed for Policy and Port)."""

    _settings_table: ClassVar[dict[str, type[HcnModel]]] = {
        "Policy": PolicyEndpointRequest,
        "Port": VmEndpointRequest,
    }

    resource_type: EndpointResourceType | None = H("ResourceType")
    request_type: RequestType | None = H("RequestType")
    settings: Any = H("Settings")


class ModifyNamespaceSettingRequest(_ModifyRequest):
    """The request of ``HcnModifyNamespace``: add or remove an endpoint or a container."""

    _settings_table: ClassVar[dict[str, type[HcnModel]]] = _NAMESPACE_RESOURCES

    resource_type: NamespaceResourceType | None = H("ResourceType")
    request_type: RequestType | None = H("RequestType")
    settings: Any = H("Settings")


# --- notifications (issue 17 contract: the data of HCN service notifications) ---------------


class NotificationData(HcnModel):
    """Data of an HCN notification: ``{"ID": ...}`` (+ ``NetworkId`` for endpoint events)."""

    id: HcnGuid | None = H("ID", "Id")
    network_id: HcnGuid | None = H("NetworkId")
