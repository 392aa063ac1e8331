"""Compute systems and HCN: add_network_adapter, builders, start with missing endpoints.

A system whose adapters or namespace name objects that do not exist does not start.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from helpers import CONTAINER, LINUX, VM, state_of, terminate_and_close

import aiohcs.hcn as hcn
from aiohcs.errors import NotFound
from aiohcs.schema import builders
from aiohcs.system import ComputeSystem

pytestmark = pytest.mark.anyio


@pytest.fixture
async def endpoint() -> AsyncIterator[hcn.Endpoint]:
    async with await hcn.create_nat_network("sys", "10.77.0.0/24") as net:
        ep = await net.create_endpoint()
        try:
            yield ep
        finally:
            await ep.aclose()


def _with_adapters(config: dict[str, Any], adapters: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(config)
    doc["VirtualMachine"]["Devices"]["NetworkAdapters"] = {
        name: a.to_dict() for name, a in adapters.items()
    }
    return doc


async def _adapters(system: ComputeSystem) -> dict[str, Any]:
    props = await system.properties()
    return props.to_dict()


async def test_add_network_adapter(linux: ComputeSystem, endpoint: hcn.Endpoint) -> None:
    mac = (await endpoint.properties()).mac_address
    await linux.add_network_adapter(endpoint)  # name: the endpoint id, MAC: the endpoint's
    await linux.add_network_adapter(endpoint.id, name="second", mac_address="00:15:5d:aa:bb:cc")
    assert mac


async def test_the_adapter_request(endpoint: hcn.Endpoint) -> None:
    from aiohcs._hcn_adapter import adapter_request

    mac = (await endpoint.properties()).mac_address
    request = (await adapter_request(endpoint)).to_dict()
    assert request == {
        "ResourcePath": f"VirtualMachine/Devices/NetworkAdapters/{endpoint.id}",
        "RequestType": "Add",
        "Settings": {"EndpointId": str(endpoint.id), "MacAddress": mac},
    }
    request = (
        await adapter_request(
            str(endpoint.id).upper(), name="eth1", mac_address="0a:0b:0c:0d:0e:0f"
        )
    ).to_dict()
    assert request["ResourcePath"] == "VirtualMachine/Devices/NetworkAdapters/eth1"
    assert request["Settings"] == {
        "EndpointId": str(endpoint.id),
        "MacAddress": "0A-0B-0C-0D-0E-0F",
    }
    # By id, the MAC address comes from an endpoint opened (and closed) for it.
    request = (await adapter_request(endpoint.id)).to_dict()
    assert request["Settings"]["MacAddress"] == mac


async def test_add_network_adapter_of_a_missing_endpoint(linux: ComputeSystem) -> None:
    missing = uuid.uuid4()
    with pytest.raises(NotFound) as info:  # (looking up its MAC address)
        await linux.add_network_adapter(missing)
    assert str(missing) in str(info.value)
    with pytest.raises(NotFound) as info:  # (HCS's check)
        await linux.add_network_adapter(missing, mac_address="00-15-5D-01-02-03")
    assert info.value.name == "HCN_E_ENDPOINT_NOT_FOUND"


async def test_a_vm_with_an_endpoint_starts(endpoint: hcn.Endpoint) -> None:
    config = _with_adapters(LINUX, builders.endpoint_adapters(endpoint))
    system = await ComputeSystem.create("net-vm", config)
    try:
        await system.start()
        assert await state_of(system) == "Running"
    finally:
        await terminate_and_close(system)


async def test_a_vm_whose_adapter_names_a_missing_endpoint_does_not_start() -> None:
    missing = uuid.uuid4()
    config = _with_adapters(VM, builders.endpoint_adapters(missing))
    system = await ComputeSystem.create("net-missing", config)
    try:
        with pytest.raises(NotFound) as info:
            await system.start()
        assert info.value.name == "HCN_E_ENDPOINT_NOT_FOUND"
        assert await state_of(system) == "Created"
    finally:
        await terminate_and_close(system)


async def test_a_container_in_a_namespace(endpoint: hcn.Endpoint) -> None:
    async with await hcn.create_namespace() as ns:
        await ns.add_endpoint(endpoint)
        config = builders.process_isolated_container(
            layers=["C:\\layers\\base"],
            scratch_path="C:\\scratch",
            network_namespace=ns,
            network_endpoints=[endpoint],
        ).to_dict()
        assert config["Container"]["Networking"] == {
            "Namespace": str(ns.id),
            "NetworkAdapters": [str(endpoint.id)],
        }
        doc = copy.deepcopy(CONTAINER)
        doc["Container"]["Networking"] = config["Container"]["Networking"]
        system = await ComputeSystem.create("net-ct", doc)
        try:
            await system.start()
        finally:
            await terminate_and_close(system)
        await ns.delete()


async def test_a_container_whose_namespace_is_missing_does_not_start() -> None:
    doc = copy.deepcopy(CONTAINER)
    doc["Container"]["Networking"] = {"Namespace": str(uuid.uuid4())}
    system = await ComputeSystem.create("net-ct-missing", doc)
    try:
        with pytest.raises(NotFound):
            await system.start()
        assert await state_of(system) == "Created"
    finally:
        await terminate_and_close(system)


def test_builders_name_endpoints() -> None:
    eid = uuid.uuid4()
    adapters = builders.endpoint_adapters(eid, str(uuid.uuid4()).upper())
    assert str(eid) in adapters
    assert adapters[str(eid)].endpoint_id is not None
    with pytest.raises(ValueError, match="twice"):
        builders.endpoint_adapters(eid, eid)
    with pytest.raises(ValueError, match="GUID"):
        builders.endpoint_adapters("nope")
    vm = builders.linux_utility_vm(kernel_path="/k", network_adapters=adapters)
    assert set(vm.to_dict()["VirtualMachine"]["Devices"]["NetworkAdapters"]) == set(adapters)
    ct = builders.process_isolated_container(
        layers=["C:\\l"], scratch_path="C:\\s", network_namespace=str(eid)
    )
    assert ct.to_dict()["Container"]["Networking"] == {"Namespace": str(eid)}
    with pytest.raises(ValueError, match="GUID"):
        builders.process_isolated_container(
            layers=["C:\\l"], scratch_path="C:\\s", network_endpoints=["x"]
        )


async def test_a_container_takes_no_network_adapter(endpoint: hcn.Endpoint) -> None:
    from helpers import TRIPWIRE

    from aiohcs import testing
    from aiohcs.errors import HcsError, InvalidArgumentError

    async with await ComputeSystem.create("c-adapter", CONTAINER) as container:
        await container.start()
        testing.fail_next("HcsModifyComputeSystem", TRIPWIRE, count=1_000_000)
        try:
            with pytest.raises(InvalidArgumentError) as info:
                await container.add_network_adapter(endpoint)
        finally:
            testing.fail_next("HcsModifyComputeSystem", TRIPWIRE, count=0)
        assert not isinstance(info.value, HcsError)
        message = str(info.value)
        assert "'c-adapter' is a container" in message
        assert "network_namespace=" in message
        assert "process_isolated_container" in message
        await terminate_and_close(container)
