"""HCN policies: the policy types of networks, endpoints and subnets and their settings.

Hand-written; re-exported by :mod:`aiohcs.schema.hcn`. A policy is ``{"Type": ...,
"Settings": {...}}``; when the type is one listed here, ``Settings`` is parsed into its
settings model (and checked), otherwise it is kept as it came (JSON data).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from pydantic import ValidationInfo, field_validator

from aiohcs.schema._base import UInt16, UInt32, UInt64
from aiohcs.schema._hcn_base import (
    U32,
    H,
    HcnGuid,
    HcnModel,
    IpAddress,
    IpAddressOrPrefix,
    IpPrefix,
    MacAddress,
    OpenIntEnum,
    OpenStrEnum,
    PortList,
    PortNumber,
    UInt32Flags,
)

# --- enums --------------------------------------------------------------------------------
# Source: hcsshim hcn/hcnpolicy.go (EndpointPolicyType, NetworkPolicyType, SubnetPolicyType,
# NatFlags, ActionType, DirectionType, RuleType, SetPolicyType, ProtocolType); schema page
# https://learn.microsoft.com/en-us/windows-server/networking/technologies/hcn/hcn-json-document-schemas
# (endpoint PortMapping/ACL, network NetAdapterName/InterfaceConstraint, subnet VLAN).


class EndpointPolicyType(OpenStrEnum):
    """``Type`` of an endpoint policy."""

    PORT_MAPPING = "PortMapping"
    ACL = "ACL"
    QOS = "QOS"
    L2_DRIVER = "L2Driver"
    OUT_BOUND_NAT = "OutBoundNAT"
    SDN_ROUTE = "SDNRoute"
    L4_PROXY = "L4Proxy"
    L4_WFP_PROXY = "L4WFPPROXY"
    PORT_NAME = "PortName"
    ENCAP_OVERHEAD = "EncapOverhead"
    IOV = "Iov"
    PROVIDER_ADDRESS = "ProviderAddress"
    INTERFACE_CONSTRAINT = "InterfaceConstraint"
    TIER_ACL = "TierAcl"


class NetworkPolicyType(OpenStrEnum):
    """``Type`` of a network policy."""

    SOURCE_MAC_ADDRESS = "SourceMacAddress"
    NET_ADAPTER_NAME = "NetAdapterName"
    VSWITCH_EXTENSION = "VSwitchExtension"
    DR_MAC_ADDRESS = "DrMacAddress"
    AUTOMATIC_DNS = "AutomaticDNS"
    INTERFACE_CONSTRAINT = "InterfaceConstraint"
    PROVIDER_ADDRESS = "ProviderAddress"
    REMOTE_SUBNET_ROUTE = "RemoteSubnetRoute"
    VXLAN_PORT = "VxlanPort"
    HOST_ROUTE = "HostRoute"
    SET_POLICY = "SetPolicy"
    L4_PROXY = "L4Proxy"
    LAYER_CONSTRAINT = "LayerConstraint"
    NETWORK_ACL = "NetworkACL"


class SubnetPolicyType(OpenStrEnum):
    """``Type`` of a subnet policy."""

    VLAN = "VLAN"
    VSID = "VSID"


class ActionType(OpenStrEnum):
    """What an ACL rule does with matching traffic."""

    ALLOW = "Allow"
    BLOCK = "Block"
    PASS = "Pass"


class DirectionType(OpenStrEnum):
    """Direction of an ACL rule: ``In`` to the endpoint, ``Out`` from it."""

    IN = "In"
    OUT = "Out"


class RuleType(OpenStrEnum):
    """Where an ACL is enforced: ``Host`` (WFP) or ``Switch`` (VFP)."""

    HOST = "Host"
    SWITCH = "Switch"


class SetPolicyType(OpenStrEnum):
    """Kind of set of a ``SetPolicy`` (JSON member ``PolicyType``)."""

    IPSET = "IPSET"
    NESTED_IPSET = "NESTEDIPSET"


class ProtocolType(OpenIntEnum):
    """IP protocol numbers used by proxy policies (hcnpolicy.go ``ProtocolType``)."""

    UNKNOWN = 0
    ICMPV4 = 1
    IGMP = 2
    TCP = 6
    UDP = 17
    ICMPV6 = 58


class NatFlags(UInt32Flags):
    """Flags of a port mapping or outbound NAT policy (hcnpolicy.go: iota 0, 1, 2)."""

    NONE = 0
    LOCAL_ROUTED_VIP = 1
    IPV6 = 2


# --- endpoint policy settings (hcnpolicy.go "Endpoint Policy objects") ---------------------


class PortMappingPolicySetting(HcnModel):
    """Settings of a ``PortMapping`` endpoint policy (NAT a host port to the endpoint)."""

    protocol: UInt32 | None = H("Protocol")
    internal_port: PortNumber | None = H("InternalPort")
    external_port: PortNumber | None = H("ExternalPort")
    vip: IpAddress | None = H("VIP")
    flags: Annotated[NatFlags, U32] | None = H("Flags")


class AclPolicySetting(HcnModel):
    """Settings of an ``ACL`` endpoint policy (one firewall rule)."""

    __hcn_feature__ = "Acl"

    protocols: str | None = H("Protocols")
    action: ActionType | None = H("Action")
    direction: DirectionType | None = H("Direction")
    local_addresses: str | None = H("LocalAddresses")
    remote_addresses: str | None = H("RemoteAddresses")
    local_ports: PortList | None = H("LocalPorts")
    remote_ports: PortList | None = H("RemotePorts")
    rule_type: RuleType | None = H("RuleType")
    priority: UInt16 | None = H("Priority")


class QosPolicySetting(HcnModel):
    """Settings of a ``QOS`` endpoint policy (outgoing bandwidth cap)."""

    maximum_outgoing_bandwidth_in_bytes: UInt64 | None = H("MaximumOutgoingBandwidthInBytes")


class OutboundNatPolicySetting(HcnModel):
    """Settings of an ``OutBoundNAT`` endpoint policy."""

    virtual_ip: IpAddress | None = H("VirtualIP")
    exceptions: list[IpAddressOrPrefix] | None = H("Exceptions")
    destinations: list[IpAddressOrPrefix] | None = H("Destinations")
    flags: Annotated[NatFlags, U32] | None = H("Flags")
    max_port_pool_usage: UInt16 | None = H("MaxPortPoolUsage")


class SDNRoutePolicySetting(HcnModel):
    """Settings of an ``SDNRoute`` endpoint policy (also the routes of a HostComputeRoute)."""

    destination_prefix: IpPrefix | None = H("DestinationPrefix")
    next_hop: IpAddress | None = H("NextHop")
    need_encap: bool | None = H("NeedEncap")


class FiveTuple(HcnModel):
    """Traffic filter of an ``L4WFPPROXY`` policy."""

    protocols: str | None = H("Protocols")
    local_addresses: str | None = H("LocalAddresses")
    remote_addresses: str | None = H("RemoteAddresses")
    local_ports: PortList | None = H("LocalPorts")
    remote_ports: PortList | None = H("RemotePorts")
    priority: UInt16 | None = H("Priority")


class ProxyExceptions(HcnModel):
    """Addresses and ports an ``L4WFPPROXY`` policy leaves alone."""

    ip_address_exceptions: list[IpAddressOrPrefix] | None = H("IpAddressExceptions")
    port_exceptions: list[PortList] | None = H("PortExceptions")


class L4WfpProxyPolicySetting(HcnModel):
    """Settings of an ``L4WFPPROXY`` endpoint policy (WFP redirection to a proxy)."""

    __hcn_feature__ = "L4WfpProxy"

    inbound_proxy_port: PortList | None = H("InboundProxyPort")
    outbound_proxy_port: PortList | None = H("OutboundProxyPort")
    filter_tuple: FiveTuple | None = H("FilterTuple")
    user_sid: str | None = H("UserSID")
    inbound_exceptions: ProxyExceptions | None = H("InboundExceptions")
    outbound_exceptions: ProxyExceptions | None = H("OutboundExceptions")


class PortnameEndpointPolicySetting(HcnModel):
    """Settings of a ``PortName`` endpoint policy."""

    name: str | None = H("Name")


class EncapOverheadEndpointPolicySetting(HcnModel):
    """Settings of an ``EncapOverhead`` endpoint policy."""

    overhead: UInt16 | None = H("Overhead")


class IovPolicySetting(HcnModel):
    """Settings of an ``Iov`` endpoint policy (SR-IOV offload)."""

    iov_offload_weight: UInt32 | None = H("IovOffloadWeight")
    queue_pairs_requested: UInt32 | None = H("QueuePairsRequested")
    interrupt_moderation: UInt32 | None = H("InterruptModeration")


class TierAclRule(HcnModel):
    """One rule of a ``TierAcl`` policy."""

    id: str | None = H("Id")
    protocols: str | None = H("Protocols")
    tier_acl_rule_action: ActionType | None = H("TierAclRuleAction")
    local_addresses: str | None = H("LocalAddresses")
    remote_addresses: str | None = H("RemoteAddresses")
    local_ports: PortList | None = H("LocalPorts")
    remote_ports: PortList | None = H("RemotePorts")
    priority: UInt16 | None = H("Priority")


class TierAclPolicySetting(HcnModel):
    """Settings of a ``TierAcl`` endpoint policy (an ordered tier of ACL rules)."""

    __hcn_feature__ = "TierAcl"

    name: str | None = H("Name")
    direction: DirectionType | None = H("Direction")
    order: UInt16 | None = H("Order")
    tier_acl_rules: list[TierAclRule] | None = H("TierAclRules")


# --- endpoint and network policy settings ---------------------------------------------------


class ProviderAddressEndpointPolicySetting(HcnModel):
    """Settings of a ``ProviderAddress`` endpoint policy."""

    provider_address: IpAddress | None = H("ProviderAddress")


class InterfaceConstraintPolicySetting(HcnModel):
    """Settings of an ``InterfaceConstraint`` policy (tie to one host NIC)."""

    interface_guid: HcnGuid | None = H("InterfaceGuid")
    interface_luid: UInt64 | None = H("InterfaceLuid")
    interface_index: UInt32 | None = H("InterfaceIndex")
    interface_media_type: UInt32 | None = H("InterfaceMediaType")
    interface_alias: str | None = H("InterfaceAlias")
    interface_description: str | None = H("InterfaceDescription")


class L4ProxyPolicySetting(HcnModel):
    """Settings of an ``L4Proxy`` policy (network or endpoint)."""

    __hcn_feature__ = "L4Proxy"

    ip: IpAddress | None = H("IP")
    port: PortList | None = H("Port")
    protocol: Annotated[ProtocolType, U32] | None = H("Protocol")
    exceptions: list[IpAddressOrPrefix] | None = H("Exceptions")
    destination: str | None = H("Destination")
    outbound_nat: bool | None = H("OutboundNAT")


# --- network policy settings (hcnpolicy.go "Network Policy objects") -----------------------


class SourceMacAddressNetworkPolicySetting(HcnModel):
    """Settings of a ``SourceMacAddress`` network policy."""

    source_mac_address: MacAddress | None = H("SourceMacAddress")


class NetAdapterNameNetworkPolicySetting(HcnModel):
    """Settings of a ``NetAdapterName`` network policy (the host adapter to bind)."""

    network_adapter_name: str | None = H("NetworkAdapterName")


class ProviderAddressNetworkPolicySetting(HcnModel):
    """Settings of a ``ProviderAddress`` network policy."""

    provider_address: IpAddress | None = H("ProviderAddress")


class VSwitchExtensionNetworkPolicySetting(HcnModel):
    """Settings of a ``VSwitchExtension`` network policy."""

    extension_id: HcnGuid | None = H("ExtensionID")
    enable: bool | None = H("Enable")


class DrMacAddressNetworkPolicySetting(HcnModel):
    """Settings of a ``DrMacAddress`` network policy."""

    address: MacAddress | None = H("Address")


class AutomaticDNSNetworkPolicySetting(HcnModel):
    """Settings of an ``AutomaticDNS`` network policy."""

    enable: bool | None = H("Enable")


class LayerConstraintNetworkPolicySetting(HcnModel):
    """Settings of a ``LayerConstraint`` network policy."""

    layer_id: HcnGuid | None = H("LayerId")


class RemoteSubnetRoutePolicySetting(HcnModel):
    """Settings of a ``RemoteSubnetRoute`` network policy (overlay networks)."""

    __hcn_feature__ = "RemoteSubnet"

    destination_prefix: IpPrefix | None = H("DestinationPrefix")
    isolation_id: UInt16 | None = H("IsolationId")
    provider_address: IpAddress | None = H("ProviderAddress")
    distributed_router_mac_address: MacAddress | None = H("DistributedRouterMacAddress")


class SetPolicySetting(HcnModel):
    """Settings of a ``SetPolicy`` network policy (an IP set; ``Id`` is a free name)."""

    __hcn_feature__ = "SetPolicy"

    id: str | None = H("Id")
    name: str | None = H("Name")
    policy_type: SetPolicyType | None = H("PolicyType")
    values: str | None = H("Values")


class VxlanPortPolicySetting(HcnModel):
    """Settings of a ``VxlanPort`` network policy."""

    __hcn_feature__ = "VxlanPort"

    port: PortNumber | None = H("Port")


class NetworkACLPolicySetting(AclPolicySetting):
    """Settings of a ``NetworkACL`` network policy (the members of an endpoint ACL)."""

    __hcn_feature__ = "NetworkACL"


class HostRoutePolicySetting(HcnModel):
    """Settings of a ``HostRoute`` network policy (hcsshim sends it without settings)."""

    __hcn_feature__ = "HostRoute"


# --- subnet policy settings -----------------------------------------------------------------


class VlanPolicySetting(HcnModel):
    """Settings of a ``VLAN`` subnet policy."""

    isolation_id: UInt32 | None = H("IsolationId")


class VsidPolicySetting(HcnModel):
    """Settings of a ``VSID`` subnet policy."""

    isolation_id: UInt32 | None = H("IsolationId")


ENDPOINT_POLICY_SETTINGS: dict[str, type[HcnModel]] = {
    "PortMapping": PortMappingPolicySetting,
    "ACL": AclPolicySetting,
    "QOS": QosPolicySetting,
    "OutBoundNAT": OutboundNatPolicySetting,
    "SDNRoute": SDNRoutePolicySetting,
    "L4Proxy": L4ProxyPolicySetting,
    "L4WFPPROXY": L4WfpProxyPolicySetting,
    "PortName": PortnameEndpointPolicySetting,
    "EncapOverhead": EncapOverheadEndpointPolicySetting,
    "Iov": IovPolicySetting,
    "ProviderAddress": ProviderAddressEndpointPolicySetting,
    "InterfaceConstraint": InterfaceConstraintPolicySetting,
    "TierAcl": TierAclPolicySetting,
}
NETWORK_POLICY_SETTINGS: dict[str, type[HcnModel]] = {
    "SourceMacAddress": SourceMacAddressNetworkPolicySetting,
    "NetAdapterName": NetAdapterNameNetworkPolicySetting,
    "VSwitchExtension": VSwitchExtensionNetworkPolicySetting,
    "DrMacAddress": DrMacAddressNetworkPolicySetting,
    "AutomaticDNS": AutomaticDNSNetworkPolicySetting,
    "InterfaceConstraint": InterfaceConstraintPolicySetting,
    "ProviderAddress": ProviderAddressNetworkPolicySetting,
    "RemoteSubnetRoute": RemoteSubnetRoutePolicySetting,
    "VxlanPort": VxlanPortPolicySetting,
    "HostRoute": HostRoutePolicySetting,
    "SetPolicy": SetPolicySetting,
    "L4Proxy": L4ProxyPolicySetting,
    "LayerConstraint": LayerConstraintNetworkPolicySetting,
    "NetworkACL": NetworkACLPolicySetting,
}
SUBNET_POLICY_SETTINGS: dict[str, type[HcnModel]] = {
    "VLAN": VlanPolicySetting,
    "VSID": VsidPolicySetting,
}


def typed_payload(value: Any, kind: object, table: Mapping[str, type[HcnModel]]) -> Any:
    """*value* parsed into ``table[kind]`` when *kind* is listed there; else unchanged.

    An object of the wrong model class is converted through its document. Raises
    :class:`ValueError` (pydantic reports it at the member) when the payload does not fit.
    """
    model = table.get(str(kind)) if kind is not None else None
    if model is None or value is None or isinstance(value, model):
        return value
    if isinstance(value, HcnModel):
        value = value.to_dict()
    if not isinstance(value, Mapping):
        return value  # not an object: kept as it came (HNS decides)
    return model.model_validate(dict(value))


class _Policy(HcnModel):
    _settings_table: ClassVar[dict[str, type[HcnModel]]] = {}

    @field_validator("settings", check_fields=False)
    @classmethod
    def _type_settings(cls, value: Any, info: ValidationInfo) -> Any:
        return typed_payload(value, info.data.get("type"), cls._settings_table)


class EndpointPolicy(_Policy):
    """A policy of an endpoint: ``Type`` and its ``Settings`` (typed for known types)."""

    _settings_table: ClassVar[dict[str, type[HcnModel]]] = ENDPOINT_POLICY_SETTINGS

    type: EndpointPolicyType | None = H("Type")
    settings: Any = H("Settings")


class NetworkPolicy(_Policy):
    """A policy of a network: ``Type`` and its ``Settings`` (typed for known types)."""

    _settings_table: ClassVar[dict[str, type[HcnModel]]] = NETWORK_POLICY_SETTINGS

    type: NetworkPolicyType | None = H("Type")
    settings: Any = H("Settings")


class SubnetPolicy(_Policy):
    """A policy of a subnet (``VLAN``, ``VSID``)."""

    _settings_table: ClassVar[dict[str, type[HcnModel]]] = SUBNET_POLICY_SETTINGS

    type: SubnetPolicyType | None = H("Type")
    settings: Any = H("Settings")


class PolicyNetworkRequest(HcnModel):
    """``Settings`` of a network modify request with ``ResourceType`` ``Policy``."""

    policies: list[NetworkPolicy] | None = H("Policies")


class PolicyEndpointRequest(HcnModel):
    """``Settings`` of an endpoint modify request with ``ResourceType`` ``Policy``."""

    policies: list[EndpointPolicy] | None = H("Policies")
