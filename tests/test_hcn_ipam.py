"""IPAM through the API, as a property of any order of endpoint creates and deletes.

The live endpoints of a network hold distinct host addresses of its subnet (never the
network, the broadcast or the gateway address), and a create fails with ResourceExhausted
exactly when every such address is taken.
"""

from __future__ import annotations

import ipaddress

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aiohcs.hcn as hcn
from aiohcs import testing
from aiohcs.errors import HcsError, InvalidDocumentError, ResourceExhausted

SUBNET = ipaddress.ip_network("10.66.0.0/28")
GATEWAY = ipaddress.ip_address("10.66.0.1")
#: Host addresses an endpoint can get: 16, less the network, broadcast and gateway ones.
CAPACITY = SUBNET.num_addresses - 3

# A step: True creates an endpoint, an int deletes the live endpoint at that index (mod).
STEPS = st.lists(st.one_of(st.just(True), st.integers(0, 31)), max_size=40)


async def _run(steps: list[bool | int]) -> None:
    async with await hcn.create_nat_network("ipam", str(SUBNET)) as net:
        live: list[hcn.Endpoint] = []
        try:
            for step in steps:
                if step is True:
                    if len(live) == CAPACITY:
                        with pytest.raises(ResourceExhausted):
                            await net.create_endpoint()
                    else:
                        live.append(await net.create_endpoint())
                elif live:
                    await live.pop(step % len(live)).delete()
                addresses = [
                    ipaddress.ip_address((await ep.properties()).ip_configurations[0].ip_address)
                    for ep in live
                ]
                assert len(set(addresses)) == len(addresses)
                for address in addresses:
                    assert address in SUBNET
                    assert address not in (SUBNET.network_address, SUBNET.broadcast_address)
                    assert address != GATEWAY
        finally:
            for ep in live:
                await ep.delete()
        await net.delete()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps=STEPS)
def test_addresses_are_distinct_and_exhaustion_is_exact(
    backend: str, steps: list[bool | int]
) -> None:
    anyio.run(_run, steps, backend=backend)
    assert testing.counts().network_handles == 0


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_full_pool(backend: str) -> None:
    anyio.run(_run, [True] * (CAPACITY + 2) + [0, True, True], backend=backend)


# ---- explicit addresses, IPv6 like IPv4 (issue 17) -------------------------------------------
RESERVED = 0x803B002F  # HCN_E_ADDR_INVALID_OR_RESERVED


async def _refused(net: hcn.Network, address: str, part: str) -> None:
    with pytest.raises(HcsError) as info:
        await net.create_endpoint({"IpConfigurations": [{"IpAddress": address}]})
    assert info.value.hresult == RESERVED, info.value
    assert part in str(info.value)


async def _outside(net: hcn.Network, address: str) -> None:
    """An address outside every subnet of the network is refused before HNS.

    (The API knows the network; hcsim's own check of it is tested in C, network_ipam6_*.)
    """
    with pytest.raises(InvalidDocumentError, match=f"{address} is outside every subnet"):
        await net.create_endpoint({"IpConfigurations": [{"IpAddress": address}]})


async def _explicit_v6() -> None:
    async with await hcn.create_nat_network("v6", "fd00::/64") as net:
        a = await net.create_endpoint({"IpConfigurations": [{"IpAddress": "fd00::5"}]})
        config = (await a.properties()).ip_configurations[0]
        assert (config.ip_address, config.prefix_length) == ("fd00::5", 64)
        await _refused(net, "fd00::5", f"in use by endpoint {a.id}")
        await _refused(net, "FD00:0::5", f"in use by endpoint {a.id}")
        await _refused(net, "fd00::", "subnet-router anycast")
        await _refused(net, "fd00::1", "gateway")
        await _outside(net, "fd01::5")
        await _outside(net, "10.0.0.5")
        await a.delete()
        b = await net.create_endpoint({"IpConfigurations": [{"IpAddress": "fd00::5"}]})
        await b.delete()
        await net.delete()
    async with await hcn.create_nat_network("v4", "10.67.0.0/24") as net:
        await _outside(net, "fd00::5")
        await net.delete()


async def _no_ipam() -> None:
    async with await hcn.create_network({"Name": "bare", "Type": "L2Bridge"}) as net:
        a = await net.create_endpoint({"IpConfigurations": [{"IpAddress": "10.1.2.3"}]})
        b = await net.create_endpoint({"IpConfigurations": [{"IpAddress": "fd00::9"}]})
        assert [(await e.properties()).ip_configurations[0].prefix_length for e in (a, b)] == [
            32,
            128,
        ]
        await _refused(net, "10.1.2.3", f"in use by endpoint {a.id}")
        await _refused(net, "fd00::9", f"in use by endpoint {b.id}")
        await _refused(net, "0.0.0.0", "not a unicast host address")
        await _refused(net, "ff02::1", "not a unicast host address")
        for ep in (a, b):
            await ep.delete()
        await net.delete()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_explicit_ipv6_addresses_follow_the_ipv4_rules(backend: str) -> None:
    anyio.run(_explicit_v6, backend=backend)
    assert testing.counts().network_handles == 0


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_network_without_ipam_takes_each_unicast_address_once(backend: str) -> None:
    anyio.run(_no_ipam, backend=backend)
    assert testing.counts().network_handles == 0
