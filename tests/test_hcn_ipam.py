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
from aiohcs.errors import ResourceExhausted

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
