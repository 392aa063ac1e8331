"""aiohcs.schema.hcn: the HCN document models parse, check and round-trip.

The sample documents are written for these tests in the shape hcsshim's ``hcn`` package
sends and HNS returns (JSON tags of hcn/*.go); they are not copied from anywhere.
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from aiohcs.schema import HcsModel
from aiohcs.schema import hcn as m

NET_ID = "0f5a7c2e-1111-4a2b-8c3d-000000000001"
EP_ID = "0f5a7c2e-2222-4a2b-8c3d-000000000002"
NS_ID = "0f5a7c2e-3333-4a2b-8c3d-000000000003"

NAT_NETWORK: dict[str, Any] = {
    "ID": NET_ID,
    "Name": "aiohcs-nat",
    "Type": "NAT",
    "Flags": 0,
    "Ipams": [
        {
            "Type": "Static",
            "Subnets": [
                {
                    "IpAddressPrefix": "172.30.0.0/16",
                    "Routes": [{"NextHop": "172.30.0.1", "DestinationPrefix": "0.0.0.0/0"}],
                }
            ],
        }
    ],
    "Dns": {"Domain": "corp.example", "Search": ["example"], "ServerList": ["172.30.0.1"]},
    "MacPool": {
        "Ranges": [{"StartMacAddress": "00-15-5D-52-C0-00", "EndMacAddress": "00-15-5D-52-CF-FF"}]
    },
    "Policies": [
        {"Type": "NetAdapterName", "Settings": {"NetworkAdapterName": "Ethernet"}},
        {"Type": "VxlanPort", "Settings": {"Port": 4789}},
    ],
    "SchemaVersion": {"Major": 2, "Minor": 0},
}

ENDPOINT: dict[str, Any] = {
    "ID": EP_ID,
    "Name": "aiohcs-ep",
    "HostComputeNetwork": NET_ID,
    "HostComputeNamespace": NS_ID,
    "MacAddress": "00-15-5D-52-C0-10",
    "IpConfigurations": [{"IpAddress": "172.30.0.16", "PrefixLength": 16}],
    "Routes": [{"NextHop": "172.30.0.1", "DestinationPrefix": "0.0.0.0/0", "Metric": 10}],
    "Policies": [
        {
            "Type": "PortMapping",
            "Settings": {"Protocol": 6, "InternalPort": 80, "ExternalPort": 8080, "Flags": 1},
        },
        {
            "Type": "ACL",
            "Settings": {
                "Protocols": "6",
                "Action": "Block",
                "Direction": "In",
                "LocalPorts": "80,443,1000-2000",
                "RuleType": "Switch",
                "Priority": 200,
            },
        },
        {
            "Type": "OutBoundNAT",
            "Settings": {"Exceptions": ["10.0.0.0/8", "192.168.1.1"]},
        },
        {"Type": "SDNRoute", "Settings": {"DestinationPrefix": "10.1.0.0/16", "NeedEncap": True}},
    ],
    "Flags": 0,
    "Health": {"Extra": {"SwitchGuid": "whatever HNS says"}},
    "SchemaVersion": {"Major": 2, "Minor": 0},
}

NAMESPACE: dict[str, Any] = {
    "ID": NS_ID,
    "NamespaceId": 7,
    "Type": "HostDefault",
    "Resources": [
        {"Type": "Endpoint", "Data": {"ID": EP_ID}},
        {"Type": "Container", "Data": {"ID": "a4c1d2-any-container-name"}},
    ],
    "SchemaVersion": {"Major": 2, "Minor": 0},
}

LOAD_BALANCER: dict[str, Any] = {
    "ID": "0f5a7c2e-4444-4a2b-8c3d-000000000004",
    "HostComputeEndpoints": [EP_ID],
    "SourceVIP": "172.30.0.2",
    "FrontendVIPs": ["10.96.0.10", "fd00::a"],
    "PortMappings": [
        {
            "Protocol": 17,
            "InternalPort": 53,
            "ExternalPort": 53,
            "DistributionType": 2,
            "Flags": 5,
        }
    ],
    "Flags": 1,
    "SchemaVersion": {"Major": 2, "Minor": 0},
}


# --- sample documents -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "doc"),
    [
        (m.HostComputeNetwork, NAT_NETWORK),
        (m.HostComputeEndpoint, ENDPOINT),
        (m.HostComputeNamespace, NAMESPACE),
        (m.HostComputeLoadBalancer, LOAD_BALANCER),
    ],
)
def test_samples_round_trip(model: type[m.HcnModel], doc: dict[str, Any]) -> None:
    parsed = model.from_json(json.dumps(doc))
    assert parsed.to_dict() == doc
    assert model.coerce(parsed.to_json()) == parsed
    assert model.coerce(doc) == parsed


def test_samples_are_typed() -> None:
    net = m.HostComputeNetwork.coerce(NAT_NETWORK)
    assert net.type is m.NetworkType.NAT
    assert net.ipams is not None
    assert net.ipams[0].subnets is not None
    assert net.ipams[0].subnets[0].routes == [
        m.Route(next_hop="172.30.0.1", destination_prefix="0.0.0.0/0")
    ]
    assert net.policies is not None
    assert isinstance(net.policies[0].settings, m.NetAdapterNameNetworkPolicySetting)
    assert isinstance(net.policies[1].settings, m.VxlanPortPolicySetting)

    ep = m.HostComputeEndpoint.coerce(ENDPOINT)
    assert ep.policies is not None
    kinds = [type(p.settings) for p in ep.policies]
    assert kinds == [
        m.PortMappingPolicySetting,
        m.AclPolicySetting,
        m.OutboundNatPolicySetting,
        m.SDNRoutePolicySetting,
    ]
    mapping = ep.policies[0].settings
    assert isinstance(mapping, m.PortMappingPolicySetting)
    assert mapping.flags == m.NatFlags.LOCAL_ROUTED_VIP
    assert ep.health is not None
    assert ep.health.extra is not None

    ns = m.HostComputeNamespace.coerce(NAMESPACE)
    assert ns.resources is not None
    assert isinstance(ns.resources[0].data, m.NamespaceResourceEndpoint)
    assert isinstance(ns.resources[1].data, m.NamespaceResourceContainer)

    lb = m.HostComputeLoadBalancer.coerce(LOAD_BALANCER)
    assert lb.flags == m.LoadBalancerFlags.DSR
    assert lb.port_mappings is not None
    pm = lb.port_mappings[0]
    assert pm.distribution_type is m.LoadBalancerDistribution.SOURCE_IP
    assert pm.flags == m.LoadBalancerPortMappingFlags.ILB | m.LoadBalancerPortMappingFlags.USE_MUX


def test_snake_case_and_json_names_build_the_same_document() -> None:
    a = m.HostComputeEndpoint(id=EP_ID, ip_configurations=[m.IpConfig(ip_address="10.0.0.5")])
    b = m.HostComputeEndpoint.model_validate(
        {"ID": EP_ID, "IpConfigurations": [{"IpAddress": "10.0.0.5"}]}
    )
    assert a == b
    assert a.to_dict() == {"ID": EP_ID, "IpConfigurations": [{"IpAddress": "10.0.0.5"}]}


def test_schema_page_spellings_are_read_and_hcsshim_spellings_written() -> None:
    # The schema page writes "Id", "IPConfigurations", "IPAddress"; hcsshim's JSON tags (what
    # HNS returns) are "ID", "IpConfigurations", "IpAddress".
    ep = m.HostComputeEndpoint.coerce(
        {"Id": EP_ID, "IPConfigurations": [{"IPAddress": "10.0.0.5", "PrefixLength": 24}]}
    )
    assert ep.to_dict() == {
        "ID": EP_ID,
        "IpConfigurations": [{"IpAddress": "10.0.0.5", "PrefixLength": 24}],
    }


def test_none_members_are_left_out() -> None:
    assert m.HostComputeNetwork().to_dict() == {}
    assert m.HostComputeEndpoint(name="x", dns=m.Dns()).to_dict() == {"Name": "x", "Dns": {}}


def test_schema_version_defaults_where_hcsshim_sets_it() -> None:
    v2 = {"SchemaVersion": {"Major": 2, "Minor": 0}}
    assert m.HostComputeQuery().to_dict() == v2
    assert m.HostComputeNamespace().to_dict() == v2
    assert m.HostComputeLoadBalancer().to_dict() == v2
    assert m.HostComputeRoute().to_dict() == v2
    assert m.HostComputeNetwork().schema_version is None
    assert m.HostComputeEndpoint().schema_version is None
    detailed = m.HostComputeQuery(flags=m.HostComputeQueryFlags.DETAILED, filter='{"Name":"x"}')
    assert json.loads(detailed.to_json()) == {**v2, "Flags": 1, "Filter": '{"Name":"x"}'}


def test_ids_are_normalized() -> None:
    upper = "{" + EP_ID.upper() + "}"
    assert m.HostComputeEndpoint(id=upper).id == EP_ID
    assert m.HostComputeEndpoint(id=uuid.UUID(EP_ID)).id == EP_ID  # type: ignore[arg-type]
    assert m.HostComputeLoadBalancer(host_compute_endpoints=[upper]).host_compute_endpoints == [
        EP_ID
    ]


def test_addresses_and_prefixes_are_canonical() -> None:
    ip = m.IpConfig(ip_address="FD00:0:0::0010", prefix_length=64)
    assert ip.ip_address == "fd00::10"
    assert m.Route(destination_prefix="FD00::/64").destination_prefix == "fd00::/64"
    addr = ipaddress.ip_address("10.0.0.9")
    assert m.IpConfig(ip_address=addr).ip_address == "10.0.0.9"  # type: ignore[arg-type]


# --- modify requests and notifications -------------------------------------------------------


def test_modify_requests_type_their_settings() -> None:
    ns = m.ModifyNamespaceSettingRequest.coerce(
        {"ResourceType": "Endpoint", "RequestType": "Add", "Settings": {"ID": EP_ID.upper()}}
    )
    assert ns.settings == m.NamespaceResourceEndpoint(id=EP_ID)
    assert ns.to_dict()["Settings"] == {"ID": EP_ID}

    ep = m.ModifyEndpointSettingRequest(
        resource_type=m.EndpointResourceType.POLICY,
        request_type=m.RequestType.ADD,
        settings={"Policies": [{"Type": "PortName", "Settings": {"Name": "p0"}}]},
    )
    assert isinstance(ep.settings, m.PolicyEndpointRequest)
    assert ep.settings.policies is not None
    assert isinstance(ep.settings.policies[0].settings, m.PortnameEndpointPolicySetting)
    port = m.ModifyEndpointSettingRequest.coerce(
        {"ResourceType": "Port", "RequestType": "Update", "Settings": {"PortId": EP_ID}}
    )
    assert isinstance(port.settings, m.VmEndpointRequest)

    net = m.ModifyNetworkSettingRequest.coerce(
        {"ResourceType": "DNS", "RequestType": "Update", "Settings": {"ServerList": ["1.1.1.1"]}}
    )
    assert net.settings == m.Dns(server_list=["1.1.1.1"])
    policy = m.ModifyNetworkSettingRequest(
        resource_type="Policy",  # type: ignore[arg-type]
        request_type="Add",  # type: ignore[arg-type]
        settings=m.PolicyNetworkRequest(
            policies=[m.NetworkPolicy(type=m.NetworkPolicyType.HOST_ROUTE)]
        ),
    )
    assert policy.to_dict()["Settings"] == {"Policies": [{"Type": "HostRoute"}]}
    ext = m.ModifyNetworkSettingRequest.coerce(
        {"ResourceType": "Extension", "RequestType": "Add", "Settings": {"Anything": [1]}}
    )
    assert ext.settings == {"Anything": [1]}


def test_a_model_of_another_class_is_converted_by_its_document() -> None:
    policy = m.EndpointPolicy(
        type=m.EndpointPolicyType.PROVIDER_ADDRESS,
        settings=m.ProviderAddressNetworkPolicySetting(provider_address="10.0.0.1"),
    )
    assert isinstance(policy.settings, m.ProviderAddressEndpointPolicySetting)


def test_settings_assigned_later_are_typed_and_checked() -> None:
    policy = m.EndpointPolicy(type=m.EndpointPolicyType.PORT_MAPPING)
    policy.settings = {"InternalPort": 22}
    assert policy.settings == m.PortMappingPolicySetting(internal_port=22)
    with pytest.raises(ValidationError):
        policy.settings = {"InternalPort": 65536}


def test_notification_data() -> None:
    data = m.NotificationData.from_json(json.dumps({"ID": EP_ID, "NetworkId": NET_ID}))
    assert (data.id, data.network_id) == (EP_ID, NET_ID)
    assert m.NotificationData.coerce({"ID": NET_ID}).to_dict() == {"ID": NET_ID}
    with pytest.raises(ValidationError):
        m.NotificationData.coerce({"ID": "nope"})


# --- validation ------------------------------------------------------------------------------


def _fails(model: type[HcsModel], doc: dict[str, Any], *words: str) -> None:
    with pytest.raises(ValidationError) as info:
        model.model_validate(doc)
    text = str(info.value)
    for word in words:
        assert word in text, text


@pytest.mark.parametrize(
    "prefix",
    ["10.0.0.1/24", "10.0.0.0/33", "10.0.0.0", "300.0.0.0/8", "", "fd00::1/64", "x/8", "::/129"],
)
def test_invalid_cidr_prefixes(prefix: str) -> None:
    _fails(m.Subnet, {"IpAddressPrefix": prefix}, "IpAddressPrefix")
    _fails(m.Route, {"DestinationPrefix": prefix}, "DestinationPrefix")
    _fails(m.SDNRoutePolicySetting, {"DestinationPrefix": prefix}, "DestinationPrefix")


def test_prefix_length_out_of_range() -> None:
    _fails(m.IpConfig, {"IpAddress": "10.0.0.2", "PrefixLength": 33}, "0..32")
    _fails(m.IpConfig, {"IpAddress": "fd00::2", "PrefixLength": 129}, "PrefixLength")
    _fails(m.IpConfig, {"PrefixLength": -1}, "PrefixLength")
    assert m.IpConfig(ip_address="fd00::2", prefix_length=128).prefix_length == 128
    assert m.IpConfig(ip_address="10.0.0.2", prefix_length=32).prefix_length == 32


@pytest.mark.parametrize("hop", ["172.31.0.1", "10.0.0.1", "fd00::1"])
def test_gateway_outside_its_subnet_is_accepted(hop: str) -> None:
    """No evidence shows HNS refusing it: an input document and a host's both parse."""
    doc = {"IpAddressPrefix": "172.30.0.0/16", "Routes": [{"NextHop": hop}]}
    assert m.Subnet.model_validate(doc).to_dict() == doc
    network = m.HostComputeNetwork.model_validate({"Ipams": [{"Subnets": [doc]}]})
    assert network.to_dict()["Ipams"][0]["Subnets"][0] == doc
    _fails(m.Subnet, {**doc, "Routes": [{"NextHop": "10.0.0.300"}]}, "NextHop")


def test_route_families_must_match() -> None:
    _fails(m.Route, {"NextHop": "fd00::1", "DestinationPrefix": "0.0.0.0/0"}, "IP versions")


def test_overlapping_subnets() -> None:
    doc = {
        "Ipams": [
            {"Subnets": [{"IpAddressPrefix": "10.0.0.0/16"}]},
            {"Subnets": [{"IpAddressPrefix": "10.0.4.0/24"}]},
        ]
    }
    _fails(m.HostComputeNetwork, doc, "overlap")
    # IPv4 and IPv6 never overlap (dual stack).
    subnets = [{"IpAddressPrefix": "10.0.0.0/8"}, {"IpAddressPrefix": "::/0"}]
    dual = {"Ipams": [{"Subnets": subnets}]}
    assert m.HostComputeNetwork.coerce(dual).ipams is not None


def test_duplicate_endpoint_addresses() -> None:
    doc = {"IpConfigurations": [{"IpAddress": "10.0.0.2"}, {"IpAddress": "10.0.0.02"}]}
    with pytest.raises(ValidationError):  # "10.0.0.02" is not an address
        m.HostComputeEndpoint.coerce(doc)
    doc = {"IpConfigurations": [{"IpAddress": "fd00::2"}, {"IpAddress": "FD00:0::2"}]}
    _fails(m.HostComputeEndpoint, doc, "twice")


@pytest.mark.parametrize(
    "mac", ["00-15-5D-52-C0", "00:15:5D-52:C0:00", "0015.5D52.C000", "00-15-5D-52-C0-0G", ""]
)
def test_bad_mac_addresses(mac: str) -> None:
    _fails(m.HostComputeEndpoint, {"MacAddress": mac}, "MAC")
    _fails(m.MacRange, {"StartMacAddress": mac}, "MAC")
    _fails(m.SourceMacAddressNetworkPolicySetting, {"SourceMacAddress": mac}, "MAC")


def test_mac_range_order() -> None:
    _fails(
        m.MacRange,
        {"StartMacAddress": "00-15-5D-00-00-10", "EndMacAddress": "00:15:5d:00:00:0f"},
        "after",
    )
    ok = m.MacRange(start_mac_address="00:15:5d:00:00:00", end_mac_address="00-15-5D-00-00-00")
    assert ok.start_mac_address == "00:15:5d:00:00:00"  # the spelling is kept


@pytest.mark.parametrize(
    "bad", ["", "not-a-guid", "{" + NET_ID, NET_ID + "}", NET_ID[:-1], NET_ID + "0", 42]
)
def test_ids_that_are_not_guids(bad: object) -> None:
    _fails(m.HostComputeNetwork, {"ID": bad}, "ID")
    _fails(m.HostComputeEndpoint, {"HostComputeNetwork": bad}, "HostComputeNetwork")
    _fails(m.HostComputeLoadBalancer, {"HostComputeEndpoints": [bad]}, "HostComputeEndpoints")
    _fails(m.NamespaceResourceEndpoint, {"ID": bad}, "ID")
    _fails(m.VmEndpointRequest, {"VirtualMachineId": bad}, "VirtualMachineId")


@pytest.mark.parametrize("port", [-1, 65536, 2**31])
def test_ports_out_of_range(port: int) -> None:
    _fails(m.PortMappingPolicySetting, {"InternalPort": port}, "InternalPort")
    _fails(m.PortMappingPolicySetting, {"ExternalPort": port}, "ExternalPort")
    _fails(m.LoadBalancerPortMapping, {"ExternalPort": port}, "ExternalPort")
    _fails(m.VxlanPortPolicySetting, {"Port": port}, "Port")
    ep = {"Policies": [{"Type": "PortMapping", "Settings": {"InternalPort": port}}]}
    _fails(m.HostComputeEndpoint, ep, "Policies.0.Settings.InternalPort")


@pytest.mark.parametrize("ports", ["65536", "80,x", "1-2-3", "2000-1000", "80,,81", "-1"])
def test_port_lists(ports: str) -> None:
    _fails(m.AclPolicySetting, {"LocalPorts": ports}, "LocalPorts")
    _fails(m.L4ProxyPolicySetting, {"Port": ports}, "Port")


def test_port_lists_accepted() -> None:
    acl = m.AclPolicySetting(local_ports="0,80, 443,1000-2000,65535", remote_ports="")
    assert acl.local_ports == "0,80, 443,1000-2000,65535"


@pytest.mark.parametrize("value", [-1, 2**32, True, "1"])
def test_flags_out_of_range(value: object) -> None:
    _fails(m.HostComputeNetwork, {"Flags": value}, "Flags")
    _fails(m.LoadBalancerPortMapping, {"DistributionType": value}, "DistributionType")


def test_addresses_checked() -> None:
    _fails(m.HostComputeLoadBalancer, {"FrontendVIPs": ["10.0.0.256"]}, "FrontendVIPs")
    _fails(m.Dns, {"ServerList": ["dns.example"]}, "ServerList")
    _fails(m.OutboundNatPolicySetting, {"Exceptions": ["10.0.0.1/8"]}, "Exceptions")


# --- open enums and unknown members ----------------------------------------------------------


def test_unknown_policy_type_is_kept_with_its_settings() -> None:
    doc = {"Type": "FuturePolicy", "Settings": {"Knob": [1, {"x": None}]}}
    policy = m.EndpointPolicy.coerce(doc)
    assert policy.type == "FuturePolicy"
    assert policy.type is not None
    assert not policy.type.known
    assert policy.settings == {"Knob": [1, {"x": None}]}
    assert policy.to_dict() == doc
    net = m.NetworkPolicy.coerce({"Type": "Other", "Settings": "text"})
    assert net.to_dict() == {"Type": "Other", "Settings": "text"}


def test_open_enums_keep_unknown_values() -> None:
    net = m.HostComputeNetwork.coerce({"Type": "Mirrored", "Flags": 0x10000 | 8})
    assert net.type == "Mirrored"
    assert net.type is not None
    assert not net.type.known
    assert net.flags is not None
    assert net.flags & m.NetworkFlags.ENABLE_NON_PERSISTENT
    assert net.to_dict() == {"Type": "Mirrored", "Flags": 0x10008}
    pm = m.LoadBalancerPortMapping.coerce({"DistributionType": 9})
    assert pm.distribution_type == 9
    assert pm.distribution_type is not None
    assert not pm.distribution_type.known
    assert m.LoadBalancerDistribution.SOURCE_IP.known
    assert pm.to_dict() == {"DistributionType": 9}
    assert m.NamespaceType("Future").value == "Future"


def test_unknown_members_are_kept_at_every_level() -> None:
    doc = json.loads(json.dumps(NAT_NETWORK))
    doc["FutureTop"] = {"a": 1}
    doc["Ipams"][0]["Subnets"][0]["Routes"][0]["FutureRoute"] = True
    doc["Policies"][0]["Settings"]["FutureSetting"] = "x"
    net = m.HostComputeNetwork.coerce(doc)
    assert net.to_dict() == doc


def test_coerce_rejects_other_types() -> None:
    with pytest.raises(TypeError):
        m.HostComputeNetwork.coerce(42)


# --- versions --------------------------------------------------------------------------------


def test_since_records_hns_versions() -> None:
    assert m.NetworkPolicyType.since("SetPolicy") == "13.0"
    assert m.NetworkPolicyType.since("NetworkACL") == "15.0"
    assert m.NetworkPolicyType.since("L4Proxy") == "9.5"
    assert m.EndpointPolicyType.since("L4WFPPROXY") == "13.2"
    assert m.EndpointPolicyType.since("TierAcl") == "14.0"
    assert m.SetPolicyType.since("NESTEDIPSET") == "15.0"
    assert m.EndpointPolicyType.since("PortMapping") is None
    assert m.EndpointPolicyType.since() is None
    assert m.EndpointPolicyType.until("ACL") is None
    assert m.SetPolicySetting.since() == "13.0"
    assert m.HostComputeNetwork.since() is None
    assert m.HostComputeNetwork.since("Name") is None
    assert m.HostComputeNetwork.until() is None
    assert m.HostComputeNetwork.schema_name() == "HostComputeNetwork"


@pytest.mark.parametrize(
    ("version", "supported"),
    [("9.4", False), ("9.5", True), ("9.9", True), ("10.4", False), ("10.5", True),
     ("11.10", False), ("11.11", True), ("12.0", False), ("12.1", True), ("13.0", False),
     ("13.1", True), ("15.4", True)],
)  # fmt: skip
def test_l4proxy_version_ranges(version: str, supported: bool) -> None:
    assert m.feature_supported("L4Proxy", version) is supported


def test_feature_supported_and_versions() -> None:
    assert m.feature_supported("DSR", (9, 3))
    assert not m.feature_supported("DSR", "10.1")
    assert m.feature_supported("DSR", "10.2")
    assert not m.feature_supported("V2Api", "9.1")
    assert m.hns_version("13.2") == (13, 2)
    for bad in ("13", "13.x", "a.b", "1.2.3"):
        with pytest.raises(ValueError, match="not an HNS version"):
            m.hns_version(bad)


def test_unsupported_in() -> None:
    net = m.HostComputeNetwork(
        flags=m.NetworkFlags.DISABLE_HOST_PORT,
        policies=[
            m.NetworkPolicy(type=m.NetworkPolicyType.SET_POLICY, settings={"Id": "s"}),
            m.NetworkPolicy(type=m.NetworkPolicyType.NET_ADAPTER_NAME),
        ],
    )
    problems = net.unsupported_in("12.0")
    assert problems == [
        "Policies.0.Type=SetPolicy: needs SetPolicy (HNS 13.0+)",
        "Policies.0.Settings=SetPolicySetting: needs SetPolicy (HNS 13.0+)",
        "Flags=1024: needs DisableHostPort (HNS 15.1+)",
    ]
    assert net.unsupported_in("15.1") == []
    lb = m.HostComputeLoadBalancer(flags=m.LoadBalancerFlags.DSR)
    assert lb.unsupported_in("10.0") == ["Flags=1: needs DSR (HNS 9.3..9.x, 10.2+)"]
    assert lb.unsupported_in("9.3") == []


# --- helpers ---------------------------------------------------------------------------------


def test_address_in_network() -> None:
    net = m.HostComputeNetwork.coerce(NAT_NETWORK)
    subnet = m.address_in_network(net, "172.30.200.1")
    assert subnet is not None
    assert subnet.ip_address_prefix == "172.30.0.0/16"
    assert m.address_in_network(net, ipaddress.ip_address("172.31.0.1")) is None
    assert m.address_in_network(net, "::ffff:172.30.0.1") is None
    assert m.address_in_network(m.HostComputeNetwork(), "10.0.0.1") is None
    no_prefix = m.HostComputeNetwork(ipams=[m.Ipam(subnets=[m.Subnet()])])
    assert m.address_in_network(no_prefix, "10.0.0.1") is None
    with pytest.raises(ValueError, match="does not appear to be"):
        m.address_in_network(net, "not an address")


def test_new_id() -> None:
    a, b = m.new_id(), m.new_id()
    assert a != b
    assert a == str(uuid.UUID(a))
    assert a == a.lower()


# --- properties ------------------------------------------------------------------------------

v4_subnets = st.builds(
    lambda a, n: ipaddress.IPv4Network((a, n), strict=False), st.integers(0, 2**32 - 1),
    st.integers(8, 30),
)  # fmt: skip
v6_subnets = st.builds(
    lambda a, n: ipaddress.IPv6Network((a, n), strict=False), st.integers(0, 2**128 - 1),
    st.integers(16, 126),
)  # fmt: skip
any_subnets: st.SearchStrategy[ipaddress.IPv4Network | ipaddress.IPv6Network] = (
    v4_subnets | v6_subnets
)
guids = st.uuids().map(str)
macs = st.binary(min_size=6, max_size=6).map(lambda b: "-".join(f"{x:02X}" for x in b))
ports = st.integers(0, 0xFFFF)


@st.composite
def subnets(draw: st.DrawFn, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> m.Subnet:
    gateway = net.network_address + draw(st.integers(0, net.num_addresses - 1))
    default = "0.0.0.0/0" if net.version == 4 else "::/0"
    routes = draw(
        st.lists(
            st.builds(
                m.Route,
                next_hop=st.just(str(gateway)),
                destination_prefix=st.sampled_from([default, str(net)]),
                metric=st.none() | st.integers(0, 0xFFFF),
            ),
            max_size=2,
        )
    )
    return m.Subnet(ip_address_prefix=str(net), routes=routes or None)


endpoint_policies = st.one_of(
    st.builds(
        m.EndpointPolicy,
        type=st.just(m.EndpointPolicyType.PORT_MAPPING),
        settings=st.builds(
            m.PortMappingPolicySetting,
            protocol=st.sampled_from([6, 17]),
            internal_port=ports,
            external_port=ports,
            flags=st.none() | st.sampled_from(list(m.NatFlags)),
        ),
    ),
    st.builds(
        m.EndpointPolicy,
        type=st.just(m.EndpointPolicyType.OUT_BOUND_NAT),
        settings=st.builds(
            m.OutboundNatPolicySetting,
            exceptions=st.lists(v4_subnets.map(str), max_size=2),
        ),
    ),
    st.builds(
        m.EndpointPolicy,
        type=st.text(min_size=1, max_size=6).map(lambda t: m.EndpointPolicyType("Z" + t)),
        settings=st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    ),
)


@st.composite
def networks(draw: st.DrawFn) -> m.HostComputeNetwork:
    net = draw(any_subnets)
    return m.HostComputeNetwork(
        id=draw(guids),
        name=draw(st.text(max_size=10)),
        type=draw(st.sampled_from(list(m.NetworkType)) | st.just(m.NetworkType("Other"))),
        flags=draw(st.none() | st.integers(0, 2**32 - 1).map(m.NetworkFlags)),
        ipams=[m.Ipam(type=m.IpamType.STATIC, subnets=[draw(subnets(net))])],
        mac_pool=m.MacPool(ranges=[m.MacRange(start_mac_address=draw(macs))]),
        policies=[
            m.NetworkPolicy(
                type=m.NetworkPolicyType.NET_ADAPTER_NAME,
                settings=m.NetAdapterNameNetworkPolicySetting(network_adapter_name=draw(st.text())),
            )
        ],
        schema_version=m.SchemaVersion(major=2, minor=draw(st.integers(0, 5))),
    )


@st.composite
def endpoints(draw: st.DrawFn) -> m.HostComputeEndpoint:
    net = draw(any_subnets)
    hosts = draw(st.sets(st.integers(0, net.num_addresses - 1), max_size=3))
    return m.HostComputeEndpoint(
        id=draw(guids),
        host_compute_network=draw(guids),
        mac_address=draw(st.none() | macs),
        ip_configurations=[
            m.IpConfig(ip_address=str(net.network_address + h), prefix_length=net.prefixlen)
            for h in sorted(hosts)
        ],
        policies=draw(st.lists(endpoint_policies, max_size=3)),
        flags=draw(st.none() | st.sampled_from(list(m.EndpointFlags))),
    )


load_balancers = st.builds(
    m.HostComputeLoadBalancer,
    id=guids,
    host_compute_endpoints=st.lists(guids, max_size=3),
    frontend_vips=st.lists(st.ip_addresses().map(str), max_size=2),
    port_mappings=st.lists(
        st.builds(
            m.LoadBalancerPortMapping,
            internal_port=ports,
            external_port=ports,
            distribution_type=st.integers(0, 5).map(m.LoadBalancerDistribution),
        ),
        max_size=2,
    ),
)
namespaces = st.builds(
    m.HostComputeNamespace,
    id=guids,
    type=st.sampled_from(list(m.NamespaceType)),
    resources=st.lists(
        st.builds(
            m.NamespaceResource,
            type=st.just(m.NamespaceResourceType.ENDPOINT),
            data=st.builds(m.NamespaceResourceEndpoint, id=guids),
        ),
        max_size=3,
    ),
)


@settings(max_examples=60, deadline=None)
@given(st.one_of(networks(), endpoints(), load_balancers, namespaces))
def test_build_dump_parse_is_stable(model: m.HcnModel) -> None:
    again = type(model).from_json(model.to_json())
    assert again == model
    assert again.to_dict() == model.to_dict()
    assert type(model).coerce(model.to_dict()) == model
