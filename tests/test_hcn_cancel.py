"""aiohcs.hcn under cancellation: nothing is sent once cancelled; a create cut short is named.

A create or delete whose scope is already cancelled (a cancelled scope, an expired
``move_on_after(0)``) raises before HNS is called, on both backends: enumerations show
nothing made and nothing deleted. A create cancelled while HNS runs it leaves the object
(HNS cannot undo it), and a warning of the ``aiohcs`` logger names its id.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import pytest

import aiohcs.hcn as hcn
from aiohcs import testing

pytestmark = pytest.mark.anyio


@pytest.fixture
async def network() -> AsyncIterator[hcn.Network]:
    net = await hcn.create_nat_network("cancel-nat", "10.30.0.0/24")
    try:
        yield net
    finally:
        await net.aclose()


async def _all() -> tuple[int, int, int, int]:
    return (
        len(await hcn.enumerate_networks()),
        len(await hcn.enumerate_endpoints()),
        len(await hcn.enumerate_namespaces()),
        len(await hcn.enumerate_load_balancers()),
    )


async def _pre_cancelled(call: Callable[[], Awaitable[Any]], *, zero_timeout: bool) -> None:
    if zero_timeout:
        with anyio.move_on_after(0) as scope:
            await call()
    else:
        with anyio.CancelScope() as scope:
            scope.cancel()
            await call()
    assert scope.cancelled_caught


@pytest.mark.parametrize("zero_timeout", [False, True])
async def test_a_pre_cancelled_create_makes_nothing(
    network: hcn.Network, zero_timeout: bool
) -> None:
    async with await network.create_endpoint() as endpoint:
        before = await _all()
        lb = {"HostComputeEndpoints": [str(endpoint.id)], "FrontendVIPs": ["10.30.0.200"]}
        creates: list[Callable[[], Awaitable[Any]]] = [
            lambda: hcn.create_nat_network("pre", "10.31.0.0/24"),
            lambda: hcn.create_network(hcn.nat_settings("pre2", "10.32.0.0/24")),
            lambda: network.create_endpoint(),
            lambda: hcn.create_endpoint(network),
            lambda: hcn.create_namespace(),
            lambda: hcn.create_load_balancer(lb),
        ]
        for create in creates:
            await _pre_cancelled(create, zero_timeout=zero_timeout)
            assert await _all() == before
        await endpoint.delete()


@pytest.mark.parametrize("zero_timeout", [False, True])
async def test_a_pre_cancelled_delete_deletes_nothing(
    network: hcn.Network, zero_timeout: bool
) -> None:
    endpoint = await network.create_endpoint()
    namespace = await hcn.create_namespace()
    lb = await hcn.create_load_balancer(
        {"HostComputeEndpoints": [str(endpoint.id)], "FrontendVIPs": ["10.30.0.200"]}
    )
    before = await _all()
    deletes: list[Callable[[], Awaitable[Any]]] = [
        lambda: hcn.delete_load_balancer(lb.id),
        lambda: hcn.delete_namespace(namespace.id),
        lambda: hcn.delete_endpoint(endpoint.id),
        lambda: hcn.delete_network(network.id),
    ]
    for delete in deletes:
        await _pre_cancelled(delete, zero_timeout=zero_timeout)
        assert await _all() == before
    for obj in (lb, namespace, endpoint):
        await obj.delete()
    assert await _all() == (1, 0, 0, 0)


async def test_a_create_cancelled_in_hns_stays_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    nid = uuid.uuid4()
    with (
        caplog.at_level(logging.WARNING, logger="aiohcs"),
        testing.delay("HcnCreateNetwork", sync_ms=200),
    ):
        with anyio.move_on_after(0.05) as scope:
            await hcn.create_nat_network("midway", "10.33.0.0/24", id=nid)
        for _ in range(200):  # (on asyncio the warning comes from a worker thread)
            if str(nid) in caplog.text:
                break
            await anyio.sleep(0.01)
    assert scope.cancelled_caught
    assert f"network {nid}" in caplog.text
    assert "stays in HNS" in caplog.text
    assert nid in await hcn.enumerate_networks()  # the documented recovery: by its id
    await hcn.delete_network(nid)
