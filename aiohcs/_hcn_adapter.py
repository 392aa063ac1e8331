"""The ModifySettingRequest that gives a compute system a network adapter for an HCN endpoint.

:meth:`aiohcs.system.ComputeSystem.add_network_adapter` sends it through the system's
modify path: :func:`aiohcs.schema.builders.add_network_adapter_request` of a
:func:`~aiohcs.schema.builders.network_adapter` (ResourcePath
``VirtualMachine/Devices/NetworkAdapters/<name>``, RequestType ``Add``, Settings
``{"EndpointId": ..., "MacAddress": ...}``). The adapter's name defaults to the endpoint's
id, its MAC address to the endpoint's.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohcs._args import check_text
from aiohcs._hcn_call import uuid_from_any
from aiohcs.errors import InvalidArgumentError

__all__ = ["adapter_request", "add_adapter", "check_adapter_arguments", "check_system_type"]


def check_adapter_arguments(
    endpoint: object, name: object, mac_address: object
) -> tuple[uuid.UUID, str | None, str | None]:
    """The endpoint's id, the adapter name and MAC address, checked (before any call)."""
    from aiohcs.hcn import Endpoint
    from aiohcs.schema.builders import network_adapter

    eid = endpoint.id if isinstance(endpoint, Endpoint) else uuid_from_any(endpoint, "endpoint")
    adapter = None
    if name is not None:
        adapter = check_text(name, "name", allow_empty=False, expected="a str or None")
        if "/" in adapter:
            raise InvalidArgumentError(f"name must not contain '/': {adapter!r}")
    mac = None
    if mac_address is not None:
        text = check_text(mac_address, "mac_address", expected="a str or None")
        try:
            mac = network_adapter(endpoint_id=eid, mac_address=text).mac_address
        except ValueError:
            raise InvalidArgumentError(
                f"mac_address must be six hex pairs such as '00-15-5D-01-02-03', not {text!r}"
            ) from None
    return eid, adapter, mac


def check_system_type(system_type: object, system_id: str) -> None:
    """Refuse a network adapter for a container (``system_type`` from its properties).

    HCS takes ``VirtualMachine/Devices/NetworkAdapters`` only from a VM; a container gets
    its network through a namespace named in its configuration. An unknown type (an older
    host that does not report one) is left to HCS.
    """
    if str(getattr(system_type, "value", system_type)) == "Container":
        raise InvalidArgumentError(
            f"compute system {system_id!r} is a container, which takes no network adapter: "
            "a container gets its network through a namespace, named in its configuration "
            "(builders.process_isolated_container(network_namespace=..., "
            "network_endpoints=...))"
        )


async def _endpoint_mac(endpoint: object, eid: uuid.UUID) -> str | None:
    from aiohcs import hcn

    if isinstance(endpoint, hcn.Endpoint):
        props = await endpoint.properties()
    else:
        async with await hcn.open_endpoint(eid) as opened:
            props = await opened.properties()
    mac: str | None = getattr(props, "mac_address", None)
    return mac or None


async def adapter_request(
    endpoint: Any, *, name: str | None = None, mac_address: str | None = None
) -> Any:
    """The ModifySettingRequest adding an adapter for ``endpoint`` (an Endpoint or its id)."""
    from aiohcs.schema.builders import add_network_adapter_request, network_adapter

    eid, adapter, mac = check_adapter_arguments(endpoint, name, mac_address)
    if mac is None:
        mac = await _endpoint_mac(endpoint, eid)
    return add_network_adapter_request(
        adapter or str(eid), network_adapter(endpoint_id=eid, mac_address=mac)
    )


async def add_adapter(
    system: Any, endpoint: Any, *, name: str | None = None, mac_address: str | None = None
) -> None:
    """:meth:`aiohcs.system.ComputeSystem.add_network_adapter`: checks, then the modify.

    The arguments are checked first, then the system's ``SystemType`` (one properties
    query): a container raises :class:`~aiohcs.errors.InvalidArgumentError` (see
    :func:`check_system_type`) and nothing is sent.
    """
    check_adapter_arguments(endpoint, name, mac_address)
    check_system_type((await system.properties()).system_type, system.id)
    await system.modify(await adapter_request(endpoint, name=name, mac_address=mac_address))
