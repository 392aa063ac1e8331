"""aiohcs.hcn: networks, endpoints, namespaces and load balancers on hcsim (both backends).

Every call's result and error; ownership (one close, ResourceWarning when unclosed, no
handle left: the leak check of conftest.py counts HCN handles); cancellation (a create
whose await is cancelled closes its handle); IPAM through the API (distinct addresses
under concurrency, exhaustion); the referential rules HNS keeps.
"""

from __future__ import annotations

import gc
import ipaddress
import uuid
import warnings
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

import aiohcs.hcn as hcn
from aiohcs import testing
from aiohcs.errors import (
    AlreadyExists,
    HandleClosedError,
    HcsError,
    HResult,
    InUse,
    MalformedResult,
    NotFound,
    ResourceExhausted,
    UnsupportedOnThisHost,
)
from aiohcs.schema import hcn as models

pytestmark = pytest.mark.anyio


def _network_handles() -> int:
    return int(getattr(testing.counts(), "network_handles", 0))


async def _settled_handles(expected: int = 0) -> int:
    """The open HCN handles once detached closes have run (up to ~2 s)."""
    for _ in range(200):
        if _network_handles() == expected:
            break
        await anyio.sleep(0.01)
    return _network_handles()


@pytest.fixture
async def network() -> AsyncIterator[hcn.Network]:
    net = await hcn.create_nat_network("test-nat", "10.20.0.0/24")
    try:
        yield net
    finally:
        await net.aclose()


def _address(endpoint_properties: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    configs = endpoint_properties.ip_configurations
    assert configs, endpoint_properties
    return ipaddress.ip_address(configs[0].ip_address)


# ---------------------------------------------------------------- networks


async def test_create_open_query_delete_network() -> None:
    nid = uuid.uuid4()
    async with await hcn.create_nat_network("nat1", "10.30.0.0/16", id=nid) as net:
        assert net.id == nid
        props = await net.properties()
        assert isinstance(props, models.HostComputeNetwork)
        assert props.name == "nat1"
        assert str(props.type) == "NAT"
        data = props.to_dict()
        subnet = data["Ipams"][0]["Subnets"][0]
        assert subnet["IpAddressPrefix"] == "10.30.0.0/16"
        assert subnet["Routes"][0]["NextHop"] == "10.30.0.1"
        assert uuid.UUID(str(props.id)) == nid
    assert net.closed
    assert nid in await hcn.enumerate_networks()
    async with await hcn.open_network(str(nid).upper()) as again:
        assert again.id == nid
    await hcn.delete_network("{" + str(nid) + "}")
    assert nid not in await hcn.enumerate_networks()
    with pytest.raises(NotFound) as info:
        await hcn.open_network(nid)
    assert info.value.operation == "HcnOpenNetwork"
    assert str(nid) in str(info.value)


async def test_the_id_may_come_from_the_document() -> None:
    nid = uuid.uuid4()
    settings = {**hcn.nat_settings("doc-id", "10.31.0.0/24"), "ID": str(nid).upper()}
    async with await hcn.create_network(settings) as net:
        assert net.id == nid
        await net.delete()
    async with await hcn.create_network(settings, id=nid) as net:  # (the same id: fine)
        await net.delete()


async def test_enumerate_detailed_gives_properties() -> None:
    async with await hcn.create_nat_network("a", "10.40.0.0/24") as a:
        async with await hcn.create_nat_network("b", "10.41.0.0/24") as b:
            found = await hcn.enumerate_networks(detailed=True)
            names = {p.name for p in found}
            assert {"a", "b"} <= names
            ids = await hcn.enumerate_networks()
            assert {a.id, b.id} <= set(ids)
            query = {"SchemaVersion": {"Major": 2, "Minor": 0}, "Filter": '{"Name": "b"}'}
            assert await hcn.enumerate_networks(query) == [b.id]
            assert [p.name for p in await hcn.enumerate_networks(query, detailed=True)] == ["b"]
            await b.delete()
        await a.delete()
    assert await hcn.enumerate_networks() == []


async def test_enumerate_with_the_detailed_flag() -> None:
    """A caller's query with the Detailed flag: HNS returns objects; both forms honour it."""
    detailed = {"SchemaVersion": {"Major": 2, "Minor": 0}, "Flags": 1}
    async with await hcn.create_nat_network("a", "10.40.0.0/24") as a:
        assert await hcn.enumerate_networks(detailed) == [a.id]
        found = await hcn.enumerate_networks(detailed, detailed=True)
        assert [(p.id, p.name) for p in found] == [(str(a.id), "a")]
        assert isinstance(found[0], models.HostComputeNetwork)
        await a.delete()


async def test_enumerate_skips_entries_that_are_not_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the host returns never raises an argument error: entries without an id are left out."""
    nid = uuid.uuid4()
    reply = f'["{nid}", 7, "not-a-guid", {{"ID": "{nid}"}}, {{"Name": "x"}}, null]'
    _replace_documents(monkeypatch, {"HcnEnumerateNetworks": reply})
    assert await hcn.enumerate_networks() == [nid, nid]


@pytest.mark.parametrize("reply", ["<html>no</html>", "{not json", '{"ID": 1}'])
async def test_enumerate_reply_that_is_not_a_json_array(
    monkeypatch: pytest.MonkeyPatch, reply: str
) -> None:
    _replace_documents(monkeypatch, {"HcnEnumerateNetworks": reply})
    with pytest.raises(MalformedResult, match="HcnEnumerateNetworks") as info:
        await hcn.enumerate_networks()
    assert info.value.operation == "HcnEnumerateNetworks"
    assert info.value.document == reply


async def test_properties_reply_that_is_not_json(monkeypatch: pytest.MonkeyPatch) -> None:
    async with await hcn.create_nat_network("a", "10.40.0.0/24") as net:
        _replace_documents(monkeypatch, {"HcnQueryNetworkProperties": "garbage"})
        with pytest.raises(MalformedResult, match="HcnQueryNetworkProperties") as info:
            await net.properties()
        assert info.value.subject == f"network {net.id}"
        monkeypatch.undo()
        await net.delete()


async def test_enumerate_detailed_skips_an_object_gone_before_its_query() -> None:
    async with await hcn.create_nat_network("a", "10.40.0.0/24") as a:
        async with await hcn.create_nat_network("b", "10.41.0.0/24") as b:
            testing.fail_next("HcnQueryNetworkProperties", HResult.HCN_E_NETWORK_NOT_FOUND)
            found = await hcn.enumerate_networks(detailed=True)
            assert len(found) == 1
            await b.delete()
        await a.delete()


def _replace_documents(monkeypatch: pytest.MonkeyPatch, replies: dict[str, str]) -> None:
    """Make the Hcn calls named in ``replies`` return that text as their result document."""
    from aiohcs import _hcn_object
    from aiohcs._hcn_call import HcnResult, hcn_call

    real = hcn_call

    async def call(name: str, *args: Any, **kwargs: Any) -> HcnResult:
        result = await real(name, *args, **kwargs)
        if name in replies:
            return HcnResult(replies[name], result.handle)
        return result

    monkeypatch.setattr(_hcn_object, "hcn_call", call)


async def test_create_network_from_a_model_and_json() -> None:
    settings = models.HostComputeNetwork.coerce(hcn.nat_settings("m", "10.50.0.0/24"))
    async with await hcn.create_network(settings) as net:
        assert (await net.properties()).name == "m"
        await net.delete()
    text = models.HostComputeNetwork.coerce(hcn.nat_settings("j", "10.51.0.0/24")).to_json()
    async with await hcn.create_network(text) as net:
        assert (await net.properties()).name == "j"
        await net.delete()


async def test_duplicate_network_id_is_already_exists(network: hcn.Network) -> None:
    with pytest.raises(AlreadyExists) as info:
        await hcn.create_nat_network("again", "10.60.0.0/24", id=network.id)
    assert info.value.name == "HCN_E_NETWORK_ALREADY_EXISTS"
    assert info.value.operation == "HcnCreateNetwork"


async def test_missing_objects_are_not_found() -> None:
    missing = uuid.uuid4()
    for call in (hcn.open_network, hcn.open_endpoint, hcn.open_namespace, hcn.open_load_balancer):
        with pytest.raises(NotFound):
            await call(missing)
    for delete in (
        hcn.delete_network,
        hcn.delete_endpoint,
        hcn.delete_namespace,
        hcn.delete_load_balancer,
    ):
        with pytest.raises(NotFound) as info:
            await delete(missing)
        assert str(missing) in str(info.value)


async def test_modify_network(network: hcn.Network) -> None:
    # An unknown resource type is refused by HNS (and hcsim): the call and its error arrive.
    with pytest.raises(HcsError) as info:
        await network.modify({"ResourceType": "NoSuchResource", "RequestType": "Add"})
    assert info.value.operation == "HcnModifyNetwork"


async def test_every_call_fails_with_the_injected_error(network: hcn.Network) -> None:
    cases: list[tuple[str, Any]] = [
        ("HcnCreateNetwork", lambda: hcn.create_nat_network("x", "10.70.0.0/24")),
        ("HcnOpenNetwork", lambda: hcn.open_network(network.id)),
        ("HcnEnumerateNetworks", lambda: hcn.enumerate_networks()),
        ("HcnQueryNetworkProperties", lambda: network.properties()),
        ("HcnModifyNetwork", lambda: network.modify({"RequestType": "Refresh"})),
        ("HcnDeleteNetwork", lambda: hcn.delete_network(uuid.uuid4())),
        ("HcnCreateEndpoint", lambda: network.create_endpoint()),
        ("HcnEnumerateEndpoints", lambda: hcn.enumerate_endpoints()),
        ("HcnCreateNamespace", lambda: hcn.create_namespace()),
        ("HcnEnumerateNamespaces", lambda: hcn.enumerate_namespaces()),
        ("HcnEnumerateLoadBalancers", lambda: hcn.enumerate_load_balancers()),
    ]
    for function, call in cases:
        testing.fail_next(function, HResult.HCN_E_MANAGER_STOPPED)
        with pytest.raises(HcsError) as info:
            await call()
        assert info.value.name == "HCN_E_MANAGER_STOPPED", function
        assert info.value.operation == function
    assert await _settled_handles(1) == 1  # the fixture's network only


async def test_injected_not_found_maps_to_not_found(network: hcn.Network) -> None:
    testing.fail_next("HcnQueryNetworkProperties", HResult.HCN_E_NETWORK_NOT_FOUND)
    with pytest.raises(NotFound) as info:
        await network.properties()
    assert info.value.subject == f"network {network.id}"


# ---------------------------------------------------------------- ownership


async def test_a_closed_object_refuses_calls(network: hcn.Network) -> None:
    await network.aclose()
    await network.aclose()  # idempotent
    with pytest.raises(HandleClosedError):
        await network.properties()
    with pytest.raises(HandleClosedError):
        await network.create_endpoint()
    assert "closed" in repr(network)


async def test_close_waits_for_a_call_in_flight(network: hcn.Network) -> None:
    with testing.delay("HcnQueryNetworkProperties", sync_ms=100):
        async with anyio.create_task_group() as tg:
            results: list[Any] = []

            async def query() -> None:
                results.append(await network.properties())

            tg.start_soon(query)
            await anyio.sleep(0.02)
            await network.aclose()
            assert results  # the query returned before the handle closed
    assert await _settled_handles() == 0


async def test_an_unclosed_object_warns_and_is_closed() -> None:
    net = await hcn.create_nat_network("leak", "10.80.0.0/24")
    nid = net.id
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del net
        gc.collect()
    (warning,) = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert str(warning.message).startswith(f"network {nid} was never closed")
    assert "closed>" not in str(warning.message)
    assert await _settled_handles() == 0
    await hcn.delete_network(nid)


async def test_delete_after_aclose_deletes_by_id() -> None:
    net = await hcn.create_nat_network("closed-first", "10.81.0.0/24")
    await net.aclose()
    with pytest.raises(HandleClosedError):
        await net.properties()
    await net.delete()  # (documented: by id, no handle needed)
    assert net.id not in await hcn.enumerate_networks()
    with pytest.raises(NotFound):
        await net.delete()


async def test_objects_cannot_be_constructed() -> None:
    for cls in (hcn.Network, hcn.Endpoint, hcn.Namespace, hcn.LoadBalancer):
        with pytest.raises(TypeError):
            cls()


async def test_a_cancelled_create_closes_its_handle() -> None:
    nid = uuid.uuid4()
    with testing.delay("HcnCreateNetwork", sync_ms=200):
        with anyio.move_on_after(0.05) as scope:
            await hcn.create_nat_network("cancelled", "10.90.0.0/24", id=nid)
    assert scope.cancelled_caught
    assert await _settled_handles() == 0
    # HNS cannot undo the create: the network exists.
    async with await hcn.open_network(nid) as net:
        await net.delete()


async def test_a_cancelled_open_closes_its_handle(network: hcn.Network) -> None:
    with testing.delay("HcnOpenNetwork", sync_ms=200):
        with anyio.move_on_after(0.05) as scope:
            await hcn.open_network(network.id)
    assert scope.cancelled_caught
    assert await _settled_handles(1) == 1


async def test_a_cancelled_endpoint_create_closes_its_handle(network: hcn.Network) -> None:
    eid = uuid.uuid4()
    with testing.delay("HcnCreateEndpoint", sync_ms=200):
        with anyio.move_on_after(0.05):
            await network.create_endpoint(id=eid)
    assert await _settled_handles(1) == 1
    await hcn.delete_endpoint(eid)


# ---------------------------------------------------------------- endpoints and IPAM


async def test_endpoint_lifecycle(network: hcn.Network) -> None:
    async with await network.create_endpoint(Name="web") as ep:
        props = await ep.properties()
        assert isinstance(props, models.HostComputeEndpoint)
        assert props.name == "web"
        assert uuid.UUID(str(props.host_compute_network)) == network.id
        assert _address(props) in ipaddress.ip_network("10.20.0.0/24")
        assert props.mac_address
        assert ep.id in await hcn.enumerate_endpoints()
        detailed = await hcn.enumerate_endpoints(detailed=True)
        assert [p.name for p in detailed] == ["web"]
        async with await hcn.open_endpoint(ep.id) as same:
            assert _address(await same.properties()) == _address(props)
        await ep.delete()
    assert await hcn.enumerate_endpoints() == []


async def test_create_endpoint_function_and_static_address(network: hcn.Network) -> None:
    settings = {"IpConfigurations": [{"IpAddress": "10.20.0.77", "PrefixLength": 24}]}
    async with await hcn.create_endpoint(network, settings) as ep:
        assert str(_address(await ep.properties())) == "10.20.0.77"
        await ep.delete()


async def test_concurrent_endpoints_get_distinct_addresses(network: hcn.Network) -> None:
    endpoints: list[hcn.Endpoint] = []

    async def make() -> None:
        endpoints.append(await network.create_endpoint())

    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(make)
    addresses = [_address(await ep.properties()) for ep in endpoints]
    assert len(set(addresses)) == 50
    subnet = ipaddress.ip_network("10.20.0.0/24")
    assert all(a in subnet and a != ipaddress.ip_address("10.20.0.1") for a in addresses)
    assert _network_handles() == 51
    for ep in endpoints:
        await ep.delete()


async def test_an_exhausted_pool_raises_resource_exhausted() -> None:
    async with await hcn.create_nat_network("small", "10.21.0.0/29") as net:
        made: list[hcn.Endpoint] = []

        async def fill() -> None:
            for _ in range(16):
                made.append(await net.create_endpoint())

        with pytest.raises(ResourceExhausted) as info:
            await fill()
        assert info.value.operation == "HcnCreateEndpoint"
        assert 1 <= len(made) <= 6  # a /29 has 6 host addresses, one is the gateway
        addresses = {_address(await ep.properties()) for ep in made}
        assert len(addresses) == len(made)
        # A freed address can be taken again.
        await made.pop().delete()
        made.append(await net.create_endpoint())
        for ep in made:
            await ep.delete()
        await net.delete()


async def test_a_network_with_endpoints_cannot_be_deleted(network: hcn.Network) -> None:
    async with await network.create_endpoint() as ep:
        with pytest.raises(InUse) as info:
            await hcn.delete_network(network.id)
        assert info.value.name == "HCN_E_ENTITY_HAS_REFERENCES"
        await ep.delete()
    await network.delete()
    assert await hcn.enumerate_networks() == []


async def test_endpoint_stats_and_addresses(network: hcn.Network) -> None:
    async with await network.create_endpoint() as ep:
        stats = await ep.stats()
        assert uuid.UUID(stats["EndpointId"]) == ep.id
        assert stats["BytesSent"] == 0
        addresses = await ep.addresses()
        props = await ep.properties()
        assert ipaddress.ip_address(addresses["IpConfigurations"][0]["IpAddress"]) == _address(
            props
        )
        assert addresses["MacAddress"] == props.mac_address
        await ep.delete()


async def test_stats_and_addresses_need_a_newer_windows(network: hcn.Network) -> None:
    async with await network.create_endpoint() as ep:
        for name, call in (
            ("HcnQueryEndpointStats", ep.stats),
            ("HcnQueryEndpointAddresses", ep.addresses),
        ):
            with testing.hide_export(name), pytest.raises(UnsupportedOnThisHost) as info:
                await call()
            assert info.value.export == name
            assert "needs" in str(info.value)
        await ep.delete()


# ---------------------------------------------------------------- namespaces


async def test_namespace_holds_endpoints(network: hcn.Network) -> None:
    async with await hcn.create_namespace() as ns, await network.create_endpoint() as ep:
        assert ns.id in await hcn.enumerate_namespaces()
        await ns.add_endpoint(ep)
        with pytest.raises(AlreadyExists):
            await ns.add_endpoint(ep.id)
        props = await ns.properties()
        assert isinstance(props, models.HostComputeNamespace)
        assert str(ep.id) in props.to_json().lower()
        await ns.remove_endpoint(str(ep.id))
        assert str(ep.id) not in (await ns.properties()).to_json().lower()
        await ns.add_endpoint(ep)
        props_ep = await ep.properties()
        assert uuid.UUID(str(props_ep.host_compute_namespace)) == ns.id
        await ns.delete()  # detaches the endpoint
        assert not (await ep.properties()).host_compute_namespace
        assert await hcn.enumerate_namespaces() == []
        await ep.delete()


async def test_namespace_of_a_missing_endpoint(network: hcn.Network) -> None:
    async with await hcn.create_namespace() as ns:
        with pytest.raises(NotFound):
            await ns.add_endpoint(uuid.uuid4())
        await ns.delete()


# ---------------------------------------------------------------- load balancers


async def test_load_balancer_lifecycle(network: hcn.Network) -> None:
    async with await network.create_endpoint() as ep:
        settings = {
            "HostComputeEndpoints": [str(ep.id)],
            "FrontendVIPs": ["10.20.0.200"],
            "PortMappings": [{"Protocol": 6, "InternalPort": 80, "ExternalPort": 8080}],
        }
        async with await hcn.create_load_balancer(settings) as lb:
            props = await lb.properties()
            assert isinstance(props, models.HostComputeLoadBalancer)
            assert lb.id in await hcn.enumerate_load_balancers()
            assert len(await hcn.enumerate_load_balancers(detailed=True)) == 1
            async with await hcn.open_load_balancer(lb.id) as same:
                assert same.id == lb.id
            await lb.delete()
        assert await hcn.enumerate_load_balancers() == []
        await ep.delete()
