"""Typed models of the HCN (Host Compute Network) JSON documents.

``from aiohcs.schema import hcn as models``. Hand-written (no machine-readable HCN schema is
published) from microsoft/hcsshim's ``hcn`` package (JSON member names, enum values, flag
bits, the HNS versions that added features: hcn/hcnnetwork.go, hcnendpoint.go,
hcnnamespace.go, hcnloadbalancer.go, hcnpolicy.go, hcnroute.go, hcn.go, hcnglobals.go,
hcnsupport.go) and Microsoft's page "HCN JSON document schemas"
(https://learn.microsoft.com/en-us/windows-server/networking/technologies/hcn/hcn-json-document-schemas).
Each module names the source of each group of facts.

The conventions are :mod:`aiohcs.schema`'s: optional snake_case fields aliased to the JSON
names (``HostComputeNetwork(ID=...)`` or ``(id=...)``), unknown members kept, ``None`` left
out of :meth:`~HcnModel.to_dict`, open enums (an unlisted policy ``Type`` is kept, its
``Settings`` left as plain data). Documents are checked as they are built or read, and a
failure raises :class:`pydantic.ValidationError` (aiohcs's calls turn it into
:class:`~aiohcs.errors.InvalidDocumentError`): ids must be GUIDs, prefixes valid CIDR (host
bits zero), subnets of a network disjoint, endpoint addresses
unique with a ``PrefixLength`` that fits, MAC addresses six hex pairs, ports 0..65535.

The compute-system side of networking (``NetworkAdapter``, ``Networking``) is in
:mod:`aiohcs.schema` already.
"""

from __future__ import annotations

import ipaddress
import uuid

from aiohcs.schema._hcn_base import (
    HNS_FEATURES,
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
    SchemaVersion,
    UInt32Flags,
    feature_supported,
    hns_version,
)
from aiohcs.schema._hcn_objects import (
    Dns,
    EndpointFlags,
    EndpointResourceType,
    ExtraParams,
    Health,
    HostComputeEndpoint,
    HostComputeLoadBalancer,
    HostComputeNamespace,
    HostComputeNetwork,
    HostComputeQuery,
    HostComputeQueryFlags,
    HostComputeRoute,
    Ipam,
    IpamType,
    IpConfig,
    LoadBalancerDistribution,
    LoadBalancerFlags,
    LoadBalancerPortMapping,
    LoadBalancerPortMappingFlags,
    MacPool,
    MacRange,
    ModifyEndpointSettingRequest,
    ModifyNamespaceSettingRequest,
    ModifyNetworkSettingRequest,
    NamespaceResource,
    NamespaceResourceContainer,
    NamespaceResourceEndpoint,
    NamespaceResourceType,
    NamespaceType,
    NetworkFlags,
    NetworkResourceType,
    NetworkType,
    NotificationData,
    RequestType,
    Route,
    Subnet,
    SubnetFlags,
    VmEndpointRequest,
)
from aiohcs.schema._hcn_policy import (
    ENDPOINT_POLICY_SETTINGS,
    NETWORK_POLICY_SETTINGS,
    SUBNET_POLICY_SETTINGS,
    AclPolicySetting,
    ActionType,
    AutomaticDNSNetworkPolicySetting,
    DirectionType,
    DrMacAddressNetworkPolicySetting,
    EncapOverheadEndpointPolicySetting,
    EndpointPolicy,
    EndpointPolicyType,
    FiveTuple,
    HostRoutePolicySetting,
    InterfaceConstraintPolicySetting,
    IovPolicySetting,
    L4ProxyPolicySetting,
    L4WfpProxyPolicySetting,
    LayerConstraintNetworkPolicySetting,
    NatFlags,
    NetAdapterNameNetworkPolicySetting,
    NetworkACLPolicySetting,
    NetworkPolicy,
    NetworkPolicyType,
    OutboundNatPolicySetting,
    PolicyEndpointRequest,
    PolicyNetworkRequest,
    PortMappingPolicySetting,
    PortnameEndpointPolicySetting,
    ProtocolType,
    ProviderAddressEndpointPolicySetting,
    ProviderAddressNetworkPolicySetting,
    ProxyExceptions,
    QosPolicySetting,
    RemoteSubnetRoutePolicySetting,
    RuleType,
    SDNRoutePolicySetting,
    SetPolicySetting,
    SetPolicyType,
    SourceMacAddressNetworkPolicySetting,
    SubnetPolicy,
    SubnetPolicyType,
    TierAclPolicySetting,
    TierAclRule,
    VlanPolicySetting,
    VsidPolicySetting,
    VSwitchExtensionNetworkPolicySetting,
    VxlanPortPolicySetting,
)

__all__ = [
    "ENDPOINT_POLICY_SETTINGS",
    "HNS_FEATURES",
    "NETWORK_POLICY_SETTINGS",
    "SUBNET_POLICY_SETTINGS",
    "AclPolicySetting",
    "ActionType",
    "AutomaticDNSNetworkPolicySetting",
    "DirectionType",
    "Dns",
    "DrMacAddressNetworkPolicySetting",
    "EncapOverheadEndpointPolicySetting",
    "EndpointFlags",
    "EndpointPolicy",
    "EndpointPolicyType",
    "EndpointResourceType",
    "ExtraParams",
    "FiveTuple",
    "HcnGuid",
    "HcnModel",
    "Health",
    "HostComputeEndpoint",
    "HostComputeLoadBalancer",
    "HostComputeNamespace",
    "HostComputeNetwork",
    "HostComputeQuery",
    "HostComputeQueryFlags",
    "HostComputeRoute",
    "HostRoutePolicySetting",
    "InterfaceConstraintPolicySetting",
    "IovPolicySetting",
    "IpAddress",
    "IpAddressOrPrefix",
    "IpConfig",
    "IpPrefix",
    "Ipam",
    "IpamType",
    "L4ProxyPolicySetting",
    "L4WfpProxyPolicySetting",
    "LayerConstraintNetworkPolicySetting",
    "LoadBalancerDistribution",
    "LoadBalancerFlags",
    "LoadBalancerPortMapping",
    "LoadBalancerPortMappingFlags",
    "MacAddress",
    "MacPool",
    "MacRange",
    "ModifyEndpointSettingRequest",
    "ModifyNamespaceSettingRequest",
    "ModifyNetworkSettingRequest",
    "NamespaceResource",
    "NamespaceResourceContainer",
    "NamespaceResourceEndpoint",
    "NamespaceResourceType",
    "NamespaceType",
    "NatFlags",
    "NetAdapterNameNetworkPolicySetting",
    "NetworkACLPolicySetting",
    "NetworkFlags",
    "NetworkPolicy",
    "NetworkPolicyType",
    "NetworkResourceType",
    "NetworkType",
    "NotificationData",
    "OpenIntEnum",
    "OpenStrEnum",
    "OutboundNatPolicySetting",
    "PolicyEndpointRequest",
    "PolicyNetworkRequest",
    "PortList",
    "PortMappingPolicySetting",
    "PortNumber",
    "PortnameEndpointPolicySetting",
    "ProtocolType",
    "ProviderAddressEndpointPolicySetting",
    "ProviderAddressNetworkPolicySetting",
    "ProxyExceptions",
    "QosPolicySetting",
    "RemoteSubnetRoutePolicySetting",
    "RequestType",
    "Route",
    "RuleType",
    "SDNRoutePolicySetting",
    "SchemaVersion",
    "SetPolicySetting",
    "SetPolicyType",
    "SourceMacAddressNetworkPolicySetting",
    "Subnet",
    "SubnetFlags",
    "SubnetPolicy",
    "SubnetPolicyType",
    "TierAclPolicySetting",
    "TierAclRule",
    "UInt32Flags",
    "VSwitchExtensionNetworkPolicySetting",
    "VlanPolicySetting",
    "VmEndpointRequest",
    "VsidPolicySetting",
    "VxlanPortPolicySetting",
    "address_in_network",
    "feature_supported",
    "hns_version",
    "new_id",
]


def address_in_network(
    settings: HostComputeNetwork,
    address: str | ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> Subnet | None:
    """The subnet of network *settings* that contains *address*, or ``None``.

    For an endpoint's address checked against its network before ``HcnCreateEndpoint``
    (HNS refuses an address outside every subnet of the network). *address* may be text or
    an :mod:`ipaddress` object; a string that is not an address raises :class:`ValueError`.
    Subnets without ``IpAddressPrefix`` never match; IPv4 never matches IPv6.
    """
    addr = ipaddress.ip_address(address)
    for ipam in settings.ipams or ():
        for subnet in ipam.subnets or ():
            prefix = subnet.ip_address_prefix
            if prefix is None:
                continue
            net = ipaddress.ip_network(prefix)
            if addr.version == net.version and addr in net:
                return subnet
    return None


def new_id() -> str:
    """A fresh id as HNS writes them (a random GUID, lowercase, no braces)."""
    return str(uuid.uuid4())
