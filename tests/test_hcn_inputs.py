"""Bad input to aiohcs.hcn and add_network_adapter: typed errors, raised before anything reaches C.

"Before C" is checked with a tripwire, as in test_system_inputs.py: every HCS and Hcn
function is made to fail with a distinctive HRESULT, so a call that reached one would come
back as an HcsError instead of an InvalidArgumentError.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from helpers import TRIPWIRE, tripwire

import aiohcs.hcn as hcn
from aiohcs import testing
from aiohcs.errors import (
    AddressUnavailable,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    InvalidDocumentError,
)
from aiohcs.system import ComputeSystem

pytestmark = pytest.mark.anyio


def test_the_tripwire_covers_the_hcn_functions() -> None:
    assert "HcnCreateNetwork" in testing.faultable_functions()


@pytest.fixture
async def network() -> AsyncIterator[hcn.Network]:
    net = await hcn.create_nat_network("inputs", "10.99.0.0/24")
    try:
        yield net
    finally:
        await net.aclose()


BAD_IDS: list[tuple[Any, type[Exception]]] = [
    (None, InvalidArgumentTypeError),
    (1, InvalidArgumentTypeError),
    (b"0f5a3e4c-8a4b-4f7e-9d2c-1b6e0a9d3c21", InvalidArgumentTypeError),
    ("", InvalidArgumentError),
    ("not-a-guid", InvalidArgumentError),
    ("0f5a3e4c-8a4b-4f7e-9d2c-1b6e0a9d3c2\0", InvalidArgumentError),
]

BAD_NETWORKS: list[tuple[Any, type[Exception]]] = [
    (None, InvalidArgumentTypeError),
    (42, InvalidArgumentTypeError),
    ("[1, 2]", InvalidDocumentError),
    ("{not json", InvalidDocumentError),
    ({"Ipams": [{"Subnets": [{"IpAddressPrefix": "10.0.0.1/8"}]}]}, InvalidDocumentError),
    ({"Ipams": [{"Subnets": [{"IpAddressPrefix": "10.0.0.0/33"}]}]}, InvalidDocumentError),
    ({"Ipams": [{"Subnets": [{"IpAddressPrefix": "banana"}]}]}, InvalidDocumentError),
    (
        {
            "Ipams": [
                {
                    "Subnets": [
                        {
                            "IpAddressPrefix": "10.0.0.0/24",
                            "Routes": [{"NextHop": "10.9.9.300", "DestinationPrefix": "0.0.0.0/0"}],
                        }
                    ]
                }
            ]
        },
        InvalidDocumentError,
    ),
    ({"ID": "not-a-guid"}, InvalidDocumentError),
    ({"Name": "a\0b"}, InvalidDocumentError),
]

BAD_ENDPOINTS: list[tuple[Any, type[Exception]]] = [
    ({"IpConfigurations": [{"IpAddress": "10.99.0.300"}]}, InvalidDocumentError),
    (
        {"IpConfigurations": [{"IpAddress": "10.99.0.5"}, {"IpAddress": "10.99.0.5"}]},
        InvalidDocumentError,
    ),
    ({"IpConfigurations": [{"IpAddress": "10.99.0.5", "PrefixLength": 40}]}, InvalidDocumentError),
    ({"MacAddress": "00:11"}, InvalidDocumentError),
    (object(), InvalidArgumentTypeError),
]


async def _refused(call: Callable[[], Awaitable[Any]], error: type[Exception]) -> None:
    with tripwire(), pytest.raises(InvalidArgumentError) as info:
        await call()
    assert isinstance(info.value, error), info.value


@pytest.mark.parametrize(("value", "error"), BAD_IDS)
async def test_bad_ids(value: Any, error: type[Exception]) -> None:
    for call in (
        hcn.open_network,
        hcn.delete_network,
        hcn.open_endpoint,
        hcn.delete_endpoint,
        hcn.open_namespace,
        hcn.delete_namespace,
        hcn.open_load_balancer,
        hcn.delete_load_balancer,
    ):
        await _refused(lambda call=call: call(value), error)  # type: ignore[misc]
    if value is not None:
        await _refused(lambda: hcn.create_nat_network("n", id=value), error)
        await _refused(lambda: hcn.create_namespace(id=value), error)


@pytest.mark.parametrize(("settings", "error"), BAD_NETWORKS)
async def test_bad_network_settings(settings: Any, error: type[Exception]) -> None:
    await _refused(lambda: hcn.create_network(settings), error)


async def test_bad_network_settings_name_the_member() -> None:
    bad = {"Ipams": [{"Subnets": [{"IpAddressPrefix": "10.0.0.1/8"}]}]}
    with pytest.raises(InvalidDocumentError) as info:
        await hcn.create_network(bad)
    assert info.value.path == "Ipams.0.Subnets.0.IpAddressPrefix"


@pytest.mark.parametrize(("settings", "error"), BAD_ENDPOINTS)
async def test_bad_endpoint_settings(
    network: hcn.Network, settings: Any, error: type[Exception]
) -> None:
    await _refused(lambda: network.create_endpoint(settings), error)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("",), {}),
        ((None,), {}),
        (("n", "10.0.0.1/24"), {}),
        (("n", "10.0.0.0/33"), {}),
        (("n", "x"), {}),
        (("n", "10.0.0.0/24"), {"gateway": "10.0.1.1"}),
        (("n", "10.0.0.0/24"), {"gateway": "10.0.0.0"}),
        (("n", "10.0.0.0/24"), {"gateway": "banana"}),
        (("n", "10.0.0.0/32"), {}),
        (("n", "10.0.0.0/31"), {}),
        (("n", "fd00::/127"), {}),
        (("n", "fd00::/128"), {}),
        (("n\0",), {}),
    ],
)
async def test_bad_nat_networks(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    await _refused(lambda: hcn.create_nat_network(*args, **kwargs), InvalidArgumentError)


@pytest.mark.parametrize("prefix", ["10.0.0.0/31", "10.0.0.0/32", "fd00::/127", "fd00::/128"])
def test_a_prefix_without_room_for_gateway_and_endpoint_is_too_small(prefix: str) -> None:
    with pytest.raises(InvalidArgumentError, match="too small"):
        hcn.nat_settings("n", prefix)


async def test_the_smallest_nat_network_holds_one_endpoint() -> None:
    async with await hcn.create_nat_network("small", "10.98.0.0/30") as network:
        async with await network.create_endpoint() as endpoint:
            address = (await endpoint.properties()).ip_configurations[0].ip_address
            assert address == "10.98.0.2"
            await endpoint.delete()
        await network.delete()


async def test_bad_queries_and_requests(network: hcn.Network) -> None:
    await _refused(lambda: hcn.enumerate_networks(42), InvalidArgumentTypeError)
    await _refused(lambda: hcn.enumerate_networks("[]"), InvalidDocumentError)
    await _refused(lambda: hcn.enumerate_networks(detailed=1), InvalidArgumentTypeError)  # type: ignore[arg-type]
    await _refused(lambda: network.properties({"Flags": "x"}), InvalidDocumentError)
    await _refused(lambda: network.modify(None), InvalidArgumentTypeError)
    await _refused(lambda: network.create_endpoint(MacAddress="zz"), InvalidDocumentError)
    other = str(uuid.uuid4())
    await _refused(
        lambda: hcn.create_namespace({"ID": other}, id=uuid.uuid4()), InvalidArgumentError
    )
    await _refused(lambda: network.modify("nope"), InvalidDocumentError)
    await _refused(lambda: hcn.create_endpoint("net", {}), InvalidArgumentTypeError)  # type: ignore[arg-type]


async def test_bad_namespace_endpoints() -> None:
    async with await hcn.create_namespace() as ns:
        for value, error in BAD_IDS:
            await _refused(lambda value=value: ns.add_endpoint(value), error)  # type: ignore[misc]
            await _refused(lambda value=value: ns.remove_endpoint(value), error)  # type: ignore[misc]
        await ns.delete()


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"endpoint": None}, InvalidArgumentTypeError),
        ({"endpoint": "x"}, InvalidArgumentError),
        ({"endpoint": uuid.uuid4(), "name": ""}, InvalidArgumentError),
        ({"endpoint": uuid.uuid4(), "name": 3}, InvalidArgumentTypeError),
        ({"endpoint": uuid.uuid4(), "name": "a/b"}, InvalidArgumentError),
        ({"endpoint": uuid.uuid4(), "mac_address": "00-11"}, InvalidArgumentError),
        ({"endpoint": uuid.uuid4(), "mac_address": 5}, InvalidArgumentTypeError),
    ],
)
async def test_bad_adapters(
    vm: ComputeSystem, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    kwargs = dict(kwargs)  # (the parameter is shared by both backends' runs)
    endpoint = kwargs.pop("endpoint")
    await _refused(lambda: vm.add_network_adapter(endpoint, **kwargs), error)


@pytest.mark.parametrize("address", ["10.9.9.9", "10.99.1.1", "fd00::5"])
async def test_an_address_outside_the_network_is_refused_before_the_create(
    network: hcn.Network, address: str
) -> None:
    settings = {"IpConfigurations": [{"IpAddress": address}]}
    creates: list[Callable[[], Awaitable[Any]]] = [
        lambda: network.create_endpoint(settings),
        lambda: hcn.create_endpoint(network, settings),
        lambda: network.create_endpoint(IpConfigurations=settings["IpConfigurations"]),
    ]
    testing.fail_next("HcnCreateEndpoint", TRIPWIRE, count=1_000_000)
    try:
        for create in creates:
            with pytest.raises(InvalidDocumentError) as info:
                await create()
            assert address in str(info.value)
            assert "10.99.0.0/24" in str(info.value)
            assert info.value.path == "IpConfigurations.0.IpAddress"
    finally:
        testing.fail_next("HcnCreateEndpoint", TRIPWIRE, count=0)
    assert await hcn.enumerate_endpoints() == []


@pytest.mark.parametrize("address", ["10.99.0.0", "10.99.0.1", "10.99.0.255", "taken"])
async def test_a_refused_address_is_address_unavailable(network: hcn.Network, address: str) -> None:
    async with await network.create_endpoint() as taken:
        if address == "taken":
            address = (await taken.properties()).ip_configurations[0].ip_address
        with pytest.raises(AddressUnavailable) as info:
            await network.create_endpoint({"IpConfigurations": [{"IpAddress": address}]})
        assert info.value.hresult == 0x803B002F
        await taken.delete()


async def test_a_load_balancer_needs_settings() -> None:
    await _refused(lambda: hcn.create_load_balancer(None), InvalidArgumentTypeError)


async def test_an_empty_modification_is_refused(network: hcn.Network) -> None:
    from aiohcs import _hcn_guest

    async with (
        await network.create_endpoint() as endpoint,
        await hcn.create_namespace() as namespace,
        await _hcn_guest.create_guest_network_service({"Flags": 0}) as service,
    ):
        empties: list[Any] = [{}, "{}", " { } "]
        for obj in (network, endpoint, namespace, service):
            for empty in empties:
                await _refused(lambda obj=obj, e=empty: obj.modify(e), InvalidArgumentError)  # type: ignore[misc]
        await _refused(lambda: service.modify(None), InvalidArgumentError)
        with pytest.raises(InvalidArgumentError, match="is empty"):
            await endpoint.modify({})
        await endpoint.delete()
        await namespace.delete()
        await service.delete()
