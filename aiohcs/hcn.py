"""Host Compute Network: networks, endpoints, namespaces and load balancers, awaitable.

HCS gives a compute system no network of its own: a client creates an HCN network, an
endpoint on it (an address from the network's IPAM pool), puts the endpoint in a namespace
or names it in the system's configuration, and gives the system a network adapter for it
(:meth:`aiohcs.system.ComputeSystem.add_network_adapter`). The common path::

    async with await hcn.create_nat_network("nat", "172.30.0.0/16") as network:
        async with await network.create_endpoint() as endpoint:
            await system.add_network_adapter(endpoint)

Leaving these blocks closes the handles only: the network and the endpoint stay in HNS
(they outlive this process) until deleted with ``delete()`` once no system uses them.
Every object is an async context manager owning one HCN handle: leaving it (or
:meth:`~Network.aclose`) closes the handle and never deletes the object; ``delete()``
does. Ids are :class:`uuid.UUID` or GUID strings (any case, braces optional); documents
(settings, queries, modification requests) are models of :mod:`aiohcs.schema.hcn`,
mappings or JSON text, checked before anything reaches HNS. Every call runs off the event
loop; a call whose scope is already cancelled sends nothing, and a create cancelled while
HNS runs it closes the handle it made (the object it created stays: HNS cannot undo it,
and a warning of the ``aiohcs`` logger names it; pass ``id=`` to know it in advance).
Failures raise the typed errors of :mod:`aiohcs.errors` (:class:`~aiohcs.errors.NotFound`,
:class:`~aiohcs.errors.AlreadyExists`, :class:`~aiohcs.errors.InUse`,
:class:`~aiohcs.errors.ResourceExhausted` when a network's address pool is exhausted,
:class:`~aiohcs.errors.AddressUnavailable` for an endpoint address HNS refuses, ...),
naming the call and the object.

On hcsim the networks are bookkeeping with real address allocation: no traffic flows.
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

from aiohcs import _hcn_documents as docs
from aiohcs import _hcn_object as _obj
from aiohcs._args import check_text
from aiohcs._hcn_call import uuid_from_any
from aiohcs._hcn_object import HcnObject, Kind
from aiohcs.errors import InvalidArgumentError, InvalidArgumentTypeError, InvalidDocumentError

__all__ = [
    "Endpoint",
    "LoadBalancer",
    "Namespace",
    "Network",
    "create_endpoint",
    "create_load_balancer",
    "create_namespace",
    "create_nat_network",
    "create_network",
    "delete_endpoint",
    "delete_load_balancer",
    "delete_namespace",
    "delete_network",
    "enumerate_endpoints",
    "enumerate_load_balancers",
    "enumerate_namespaces",
    "enumerate_networks",
    "nat_settings",
    "open_endpoint",
    "open_load_balancer",
    "open_namespace",
    "open_network",
]

_NETWORK = Kind("network", "Network", "Networks", "HostComputeNetwork")
_ENDPOINT = Kind("endpoint", "Endpoint", "Endpoints", "HostComputeEndpoint")
_NAMESPACE = Kind("namespace", "Namespace", "Namespaces", "HostComputeNamespace")
_LOAD_BALANCER = Kind("load balancer", "LoadBalancer", "LoadBalancers", "HostComputeLoadBalancer")


class Network(HcnObject):
    """An open HCN network (``id``, ``properties()``, ``modify()``, ``delete()``, ``aclose()``)."""

    _kind = _NETWORK

    async def create_endpoint(
        self, settings: Any = None, *, id: uuid.UUID | str | None = None, **members: Any
    ) -> Endpoint:
        """Create an endpoint on this network (an address from its pool unless one is given).

        ``settings``: a HostComputeEndpoint document (model, mapping, JSON text) or None;
        ``members``: top-level members added to it by their JSON names
        (``Name="web"``, ``MacAddress=...``); ``id``: the new endpoint's id (None: a new
        one). Its ``HostComputeNetwork`` member is this network. An explicit address
        (``IpConfigurations``) outside every subnet of the network raises
        :class:`~aiohcs.errors.InvalidDocumentError` naming it and the subnets, before the
        endpoint is sent (the network's properties are queried once for it); one HNS
        refuses otherwise (reserved, taken) raises :class:`~aiohcs.errors.AddressUnavailable`.
        """
        extra: dict[str, Any] = dict(members)
        extra["HostComputeNetwork"] = str(self.id)
        data = docs.settings_object(
            {} if settings is None else settings, "HostComputeEndpoint", argument="settings"
        )
        data = docs.settings_object({**data, **extra}, "HostComputeEndpoint", argument="settings")
        await self._check_addresses(data)
        return await _obj.create(Endpoint, data, id, parent=self)

    async def _check_addresses(self, endpoint: dict[str, Any]) -> None:
        """Refuse an explicit address of ``endpoint`` outside every subnet of this network."""
        configurations = endpoint.get("IpConfigurations") or []
        explicit = [(i, c["IpAddress"]) for i, c in enumerate(configurations) if c.get("IpAddress")]
        if not explicit:
            return
        from aiohcs.schema.hcn import HostComputeNetwork, address_in_network

        network = await self.properties()  # (one query)
        if not isinstance(network, HostComputeNetwork):
            return
        subnets = [
            s.ip_address_prefix
            for ipam in network.ipams or ()
            for s in ipam.subnets or ()
            if s.ip_address_prefix
        ]
        if not subnets:  # (no IPAM subnets known: HNS decides)
            return
        for index, address in explicit:
            if address_in_network(network, address) is None:
                raise InvalidDocumentError(
                    "HostComputeEndpoint",
                    [
                        (
                            f"IpConfigurations.{index}.IpAddress",
                            f"{address} is outside every subnet of network {self.id} "
                            f"({', '.join(subnets)})",
                        )
                    ],
                    argument="settings",
                )


class Endpoint(HcnObject):
    """An open HCN endpoint: a network's address, for a namespace or a system's adapter."""

    _kind = _ENDPOINT

    async def stats(self, query: Any = None) -> Any:
        """The endpoint's traffic counters (HcnQueryEndpointStats: newer Windows only)."""
        return await self._query_call("HcnQueryEndpointStats", query, "EndpointStats")

    async def addresses(self, query: Any = None) -> Any:
        """The endpoint's addresses (HcnQueryEndpointAddresses: newer Windows only)."""
        return await self._query_call("HcnQueryEndpointAddresses", query, "EndpointAddresses")


def _endpoint_id(endpoint: Endpoint | uuid.UUID | str) -> uuid.UUID:
    if isinstance(endpoint, Endpoint):
        return endpoint.id
    return uuid_from_any(endpoint, "endpoint")


class Namespace(HcnObject):
    """An open HCN namespace: the endpoints a container or VM shares."""

    _kind = _NAMESPACE

    async def _endpoint_request(self, request_type: str, endpoint: Any) -> None:
        eid = _endpoint_id(endpoint)
        await self._modify(
            {
                "ResourceType": "Endpoint",
                "RequestType": request_type,
                "Settings": {"EndpointId": str(eid)},
            }
        )

    async def add_endpoint(self, endpoint: Endpoint | uuid.UUID | str) -> None:
        """Put ``endpoint`` (an :class:`Endpoint` or its id) in this namespace."""
        await self._endpoint_request("Add", endpoint)

    async def remove_endpoint(self, endpoint: Endpoint | uuid.UUID | str) -> None:
        """Take ``endpoint`` (an :class:`Endpoint` or its id) out of this namespace."""
        await self._endpoint_request("Remove", endpoint)


class LoadBalancer(HcnObject):
    """An open HCN load balancer over endpoints."""

    _kind = _LOAD_BALANCER


# ---------------------------------------------------------------- networks


async def create_network(settings: Any, *, id: uuid.UUID | str | None = None) -> Network:
    """Create a network from a HostComputeNetwork document; ``id``: None makes a new one.

    ``settings`` is required (None raises :class:`~aiohcs.errors.InvalidArgumentTypeError`:
    :func:`nat_settings` makes one).
    """
    _required(settings, "a HostComputeNetwork document (see nat_settings)")
    return await _obj.create(Network, settings, id)


def _required(settings: Any, what: str) -> None:
    if settings is None:
        raise InvalidArgumentTypeError(f"settings must be {what}, not None")


async def open_network(id: uuid.UUID | str) -> Network:
    """Open the network ``id``."""
    return await _obj.open_object(Network, id)


async def enumerate_networks(query: Any = None, *, detailed: bool = False) -> list[Any]:
    """The ids of the networks ``query`` selects (``detailed``: their properties)."""
    return await _enumerate(Network, query, detailed)


async def delete_network(id: uuid.UUID | str) -> None:
    """Delete the network ``id`` (:class:`~aiohcs.errors.InUse` while it has endpoints)."""
    await _obj.delete(_NETWORK, id)


# ---------------------------------------------------------------- endpoints


async def create_endpoint(
    network: Network, settings: Any = None, *, id: uuid.UUID | str | None = None
) -> Endpoint:
    """Create an endpoint on ``network`` (see :meth:`Network.create_endpoint`)."""
    if not isinstance(network, Network):
        raise InvalidArgumentTypeError(
            f"network must be an open aiohcs.hcn.Network, not {type(network).__name__}"
        )
    return await network.create_endpoint(settings, id=id)


async def open_endpoint(id: uuid.UUID | str) -> Endpoint:
    """Open the endpoint ``id``."""
    return await _obj.open_object(Endpoint, id)


async def enumerate_endpoints(query: Any = None, *, detailed: bool = False) -> list[Any]:
    """The ids of the endpoints ``query`` selects (``detailed``: their properties)."""
    return await _enumerate(Endpoint, query, detailed)


async def delete_endpoint(id: uuid.UUID | str) -> None:
    """Delete the endpoint ``id`` (its address returns to its network's pool)."""
    await _obj.delete(_ENDPOINT, id)


# ---------------------------------------------------------------- namespaces


async def create_namespace(settings: Any = None, *, id: uuid.UUID | str | None = None) -> Namespace:
    """Create a namespace from a HostComputeNamespace document (None: an empty one)."""
    return await _obj.create(Namespace, settings, id)


async def open_namespace(id: uuid.UUID | str) -> Namespace:
    """Open the namespace ``id``."""
    return await _obj.open_object(Namespace, id)


async def enumerate_namespaces(query: Any = None, *, detailed: bool = False) -> list[Any]:
    """The ids of the namespaces ``query`` selects (``detailed``: their properties)."""
    return await _enumerate(Namespace, query, detailed)


async def delete_namespace(id: uuid.UUID | str) -> None:
    """Delete the namespace ``id`` (its endpoints are taken out of it)."""
    await _obj.delete(_NAMESPACE, id)


# ---------------------------------------------------------------- load balancers


async def create_load_balancer(settings: Any, *, id: uuid.UUID | str | None = None) -> LoadBalancer:
    """Create a load balancer from a HostComputeLoadBalancer document (None is refused)."""
    _required(settings, "a HostComputeLoadBalancer document")
    return await _obj.create(LoadBalancer, settings, id)


async def open_load_balancer(id: uuid.UUID | str) -> LoadBalancer:
    """Open the load balancer ``id``."""
    return await _obj.open_object(LoadBalancer, id)


async def enumerate_load_balancers(query: Any = None, *, detailed: bool = False) -> list[Any]:
    """The ids of the load balancers ``query`` selects (``detailed``: their properties)."""
    return await _enumerate(LoadBalancer, query, detailed)


async def delete_load_balancer(id: uuid.UUID | str) -> None:
    """Delete the load balancer ``id``."""
    await _obj.delete(_LOAD_BALANCER, id)


async def _enumerate(cls: type[HcnObject], query: Any, detailed: bool) -> list[Any]:
    if not isinstance(detailed, bool):
        raise InvalidArgumentTypeError(f"detailed must be a bool, not {type(detailed).__name__}")
    if detailed:
        return await _obj.enumerate_detailed(cls, query)
    return list(await _obj.enumerate_ids(cls._kind, query))


# ---------------------------------------------------------------- the common path


def nat_settings(
    name: str, prefix: str = "172.30.0.0/16", *, gateway: str | None = None
) -> dict[str, Any]:
    """The HostComputeNetwork document of a NAT network ``name`` over the subnet ``prefix``.

    ``gateway``: the subnet's default gateway (None: its first host address). Raises
    :class:`~aiohcs.errors.InvalidArgumentError` for a prefix that is not a CIDR prefix (or
    has host bits set), one too small for a gateway and an endpoint (IPv4 /31 and /32, IPv6
    /127 and /128), and for a gateway that is not a host address of the subnet.
    """
    check_text(name, "name", allow_empty=False)
    check_text(prefix, "prefix")
    try:
        subnet = ipaddress.ip_network(prefix, strict=True)
    except ValueError as exc:
        raise InvalidArgumentError(
            f"prefix must be a CIDR prefix such as '172.30.0.0/16': {exc}"
        ) from None
    if subnet.num_addresses < 4:  # /31, /32, /127, /128: no network, gateway and endpoint
        raise InvalidArgumentError(
            f"prefix {subnet} is too small: a NAT network needs a gateway and an endpoint "
            f"address besides the network address (at most /{subnet.max_prefixlen - 2})"
        )
    first = next(iter(subnet.hosts()))
    if gateway is None:
        hop = first
    else:
        check_text(gateway, "gateway")
        try:
            hop = ipaddress.ip_address(gateway)
        except ValueError:
            raise InvalidArgumentError(f"gateway must be an IP address, not {gateway!r}") from None
        if hop not in subnet or hop in (subnet.network_address, subnet.broadcast_address):
            raise InvalidArgumentError(f"gateway {hop} is not a host address of {subnet}")
    default_route = "0.0.0.0/0" if subnet.version == 4 else "::/0"
    return {
        "Name": name,
        "Type": "NAT",
        "Ipams": [
            {
                "Type": "Static",
                "Subnets": [
                    {
                        "IpAddressPrefix": str(subnet),
                        "Routes": [{"NextHop": str(hop), "DestinationPrefix": default_route}],
                    }
                ],
            }
        ],
        "SchemaVersion": {"Major": 2, "Minor": 0},
    }


async def create_nat_network(
    name: str,
    prefix: str = "172.30.0.0/16",
    *,
    gateway: str | None = None,
    id: uuid.UUID | str | None = None,
) -> Network:
    """Create a NAT network ``name`` whose endpoints get addresses from ``prefix``.

    ``gateway``: the default gateway (None: the subnet's first host address). See
    :func:`nat_settings` for the document and its checks.
    """
    return await create_network(nat_settings(name, prefix, gateway=gateway), id=id)


# ---- NOTIFY (issue 17): notifications, guest network services and port reservations, ----
# ---- re-exported from their private modules (appended; keep at the end). ---------------
from aiohcs import _hcn_guest, _hcn_notify  # noqa: E402
from aiohcs._hcn_guest import *  # noqa: E402, F403
from aiohcs._hcn_notify import *  # noqa: E402, F403

__all__ += _hcn_guest.__all__
__all__ += _hcn_notify.__all__
