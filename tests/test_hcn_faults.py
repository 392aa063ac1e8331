"""Every Hcn call of aiohcs.hcn, failed on purpose, and a native asyncio cancel of a create.

Each failure raises its typed error naming the call and the object, and leaves nothing open.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import pytest

import aiohcs.hcn as hcn
from aiohcs import testing
from aiohcs.errors import AlreadyExists, HcsError, HResult, InUse, InvalidJson, NotFound

pytestmark = pytest.mark.anyio


@dataclass
class World:
    network: hcn.Network
    endpoint: hcn.Endpoint
    namespace: hcn.Namespace
    balancer: hcn.LoadBalancer


@pytest.fixture
async def world() -> AsyncIterator[World]:
    net = await hcn.create_nat_network("faults", "10.88.0.0/24")
    ep = await net.create_endpoint()
    ns = await hcn.create_namespace()
    lb = await hcn.create_load_balancer(
        {
            "HostComputeEndpoints": [str(ep.id)],
            "FrontendVIPs": ["10.88.0.250"],
            "PortMappings": [{"Protocol": 6, "InternalPort": 80, "ExternalPort": 80}],
        }
    )
    try:
        yield World(net, ep, ns, lb)
    finally:
        for obj in (lb, ns, ep, net):
            await obj.aclose()


Call = Callable[[World], Awaitable[Any]]

CALLS: dict[str, tuple[Call, str]] = {
    # function: (the call, the object its error names)
    "HcnCreateNetwork": (lambda w: hcn.create_nat_network("x", "10.89.0.0/24"), "network"),
    "HcnOpenNetwork": (lambda w: hcn.open_network(w.network.id), "network"),
    "HcnEnumerateNetworks": (lambda w: hcn.enumerate_networks(), "networks"),
    "HcnQueryNetworkProperties": (lambda w: w.network.properties(), "network"),
    "HcnModifyNetwork": (lambda w: w.network.modify({"RequestType": "Refresh"}), "network"),
    "HcnDeleteNetwork": (lambda w: hcn.delete_network(w.network.id), "network"),
    "HcnCreateEndpoint": (lambda w: w.network.create_endpoint(), "endpoint"),
    "HcnOpenEndpoint": (lambda w: hcn.open_endpoint(w.endpoint.id), "endpoint"),
    "HcnEnumerateEndpoints": (lambda w: hcn.enumerate_endpoints(), "endpoints"),
    "HcnQueryEndpointProperties": (lambda w: w.endpoint.properties(), "endpoint"),
    "HcnQueryEndpointStats": (lambda w: w.endpoint.stats(), "endpoint"),
    "HcnQueryEndpointAddresses": (lambda w: w.endpoint.addresses(), "endpoint"),
    "HcnModifyEndpoint": (lambda w: w.endpoint.modify({"RequestType": "Refresh"}), "endpoint"),
    "HcnDeleteEndpoint": (lambda w: hcn.delete_endpoint(w.endpoint.id), "endpoint"),
    "HcnCreateNamespace": (lambda w: hcn.create_namespace(), "namespace"),
    "HcnOpenNamespace": (lambda w: hcn.open_namespace(w.namespace.id), "namespace"),
    "HcnEnumerateNamespaces": (lambda w: hcn.enumerate_namespaces(), "namespaces"),
    "HcnQueryNamespaceProperties": (lambda w: w.namespace.properties(), "namespace"),
    "HcnModifyNamespace": (lambda w: w.namespace.add_endpoint(w.endpoint), "namespace"),
    "HcnDeleteNamespace": (lambda w: hcn.delete_namespace(w.namespace.id), "namespace"),
    "HcnCreateLoadBalancer": (
        lambda w: hcn.create_load_balancer({"HostComputeEndpoints": [str(w.endpoint.id)]}),
        "load balancer",
    ),
    "HcnOpenLoadBalancer": (lambda w: hcn.open_load_balancer(w.balancer.id), "load balancer"),
    "HcnEnumerateLoadBalancers": (lambda w: hcn.enumerate_load_balancers(), "load balancers"),
    "HcnQueryLoadBalancerProperties": (lambda w: w.balancer.properties(), "load balancer"),
    "HcnModifyLoadBalancer": (lambda w: w.balancer.modify({"FrontendVIPs": []}), "load balancer"),
    "HcnDeleteLoadBalancer": (lambda w: hcn.delete_load_balancer(w.balancer.id), "load balancer"),
}

ERRORS: list[tuple[int, type[HcsError]]] = [
    (HResult.HCN_E_MANAGER_STOPPED, HcsError),
    (HResult.HCN_E_ENDPOINT_NOT_FOUND, NotFound),
    (HResult.ERROR_NOT_FOUND, NotFound),
    (HResult.HCN_E_NETWORK_ALREADY_EXISTS, AlreadyExists),
    (HResult.HCN_E_ENTITY_HAS_REFERENCES, InUse),
    (HResult.HCN_E_INVALID_JSON, InvalidJson),
]


def _handles() -> int:
    return int(getattr(testing.counts(), "network_handles", 0))


@pytest.mark.parametrize("function", sorted(CALLS))
async def test_every_call_reports_its_failure(world: World, function: str) -> None:
    call, what = CALLS[function]
    before = _handles()
    for hr, cls in ERRORS:
        testing.fail_next(function, hr)
        with pytest.raises(cls) as info:
            await call(world)
        error = info.value
        assert type(error) is cls, function
        assert error.hresult == hr
        assert error.operation == function
        assert str(error.subject).startswith(what)
        assert function in str(error)
    assert _handles() == before


def test_the_table_covers_every_hcn_call_of_the_api() -> None:
    used = {
        name
        for name in testing.faultable_functions()
        if name.startswith("Hcn")
        and not any(
            word in name for word in ("Close", "GuestNetwork", "ServiceCallback", "PortReservation")
        )
    }
    assert used == set(CALLS)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_native_asyncio_cancel_closes_the_created_handle() -> None:
    nid = uuid.uuid4()
    with testing.delay("HcnCreateNetwork", sync_ms=200), pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(hcn.create_nat_network("n", "10.87.0.0/24", id=nid), 0.05)
    for _ in range(200):
        if _handles() == 0:
            break
        await anyio.sleep(0.01)
    assert _handles() == 0
    await hcn.delete_network(nid)
