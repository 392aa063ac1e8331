"""``aiohcs network|endpoint|namespace ...``: Host Compute Network from the command line.

Networks, their endpoints and the namespaces that hold endpoints: ``list``, ``create``,
``inspect`` and ``delete`` for each (``attach``/``detach`` an endpoint for namespaces), and
``network watch`` printing the HCN service's notifications. All of it calls
:mod:`aiohcs.hcn`. Ids, prefixes and addresses are checked while parsing (a bad one is a
usage error, exit 2), and so is a ``network create`` whose gateway is not a host address
of its prefix or whose prefix is too small; what only HNS can judge (an address outside
its network's subnet, a network still in use) is an error of the command (exit 1). A
create on hcsim without a service says that the object ends with the command.
"""

from __future__ import annotations

import argparse
import ipaddress
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import anyio

from aiohcs.cli._argtypes import positive_int, seconds
from aiohcs.cli._runtime import CliError, Context

__all__ = [
    "add_network_parsers",
    "cidr_prefix",
    "cmd_endpoint",
    "cmd_namespace",
    "cmd_network",
    "guid",
    "ip_address",
    "network_commands",
]

#: ``--type`` of ``network create`` → the network ``Type`` HNS knows.
NETWORK_TYPES: Final = {
    "nat": "NAT",
    "ics": "ICS",
    "transparent": "Transparent",
    "l2bridge": "L2Bridge",
    "l2tunnel": "L2Tunnel",
    "private": "Private",
    "overlay": "Overlay",
}


# ---------------------------------------------------------------- value types


def guid(text: str) -> str:
    """An argparse type: a GUID (any case, braces optional), as HNS writes it (lowercase)."""
    bare = text.strip()
    if bare.startswith("{") and bare.endswith("}"):
        bare = bare[1:-1]
    try:
        if len(bare) != 36:
            raise ValueError(bare)
        return str(uuid.UUID(bare))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a GUID such as 0f5a3e4c-8a4b-4f7e-9d2c-1b6e0a9d3c21, not {text!r}"
        ) from None


def cidr_prefix(text: str) -> str:
    """An argparse type: a CIDR prefix without host bits, such as ``172.30.0.0/16``."""
    try:
        if "/" not in text:
            raise ValueError("no prefix length")
        return str(ipaddress.ip_network(text.strip(), strict=True))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected a CIDR prefix such as 172.30.0.0/16, not {text!r} ({exc})"
        ) from None


def ip_address(text: str) -> str:
    """An argparse type: an IPv4 or IPv6 address."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an IP address such as 172.30.0.5, not {text!r}"
        ) from None


# ---------------------------------------------------------------- the parsers


def _json_flag(p: argparse.ArgumentParser, text: str = "print one JSON document") -> None:
    p.add_argument("--json", action="store_true", help=text)


def _id_action(group: Any, action: str, what: str, text: str) -> None:
    p = group.add_parser(action, help=text, description=text[0].upper() + text[1:] + ".")
    p.add_argument("id", metavar="ID", type=guid, help=f"the {what}'s id (a GUID)")
    _json_flag(p)


def _group(sub: Any, name: str, actions: str, description: str) -> Any:
    """The command group ``name`` with its ``list`` action; returns its subparsers."""
    p = sub.add_parser(name, help=f"HCN {name}s: {actions}", description=description)
    group = p.add_subparsers(dest=f"{name}_command", metavar="ACTION", required=True)
    c = group.add_parser("list", help=f"list {name}s", description=f"List the {name}s.")
    if name == "endpoint":
        c.add_argument("--network", type=guid, default=None, help="only those on this network")
    _json_flag(c, f"print the {name}s' documents as one JSON list")
    return group


def _new_id(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--id", type=guid, default=None, help=f"the new {what}'s id (a GUID)")
    _json_flag(p)


def network_create_problem(args: argparse.Namespace) -> str | None:
    """The usage error of ``network create``'s arguments taken together (None: they fit).

    Each argument is checked alone while parsing; this checks them together as
    :func:`aiohcs.hcn.nat_settings` does (a gateway outside the prefix, a prefix too small
    for a gateway and an endpoint), so that nothing is sent and the exit code is 2.
    """
    from aiohcs import hcn
    from aiohcs.errors import InvalidArgumentError

    try:
        hcn.nat_settings(args.name, args.prefix, gateway=args.gateway)
    except InvalidArgumentError as exc:
        return str(exc)
    return None


def add_network_parsers(sub: Any) -> None:
    """The ``network``, ``endpoint`` and ``namespace`` command groups."""
    _add_network(sub)
    _add_endpoint(sub)
    _add_namespace(sub)


def _add_network(sub: Any) -> None:
    group = _group(
        sub,
        "network",
        "list, create, inspect, delete, watch",
        "Host Compute Network networks. On hcsim the networks are bookkeeping with real "
        "address allocation (IPAM): no traffic flows.",
    )
    c = group.add_parser(
        "create",
        help="create a network",
        description="Create network NAME whose endpoints get addresses from --prefix; its "
        "default gateway is --gateway (default: the subnet's first host address). Prints "
        "the new network's id.",
    )
    c.add_argument("name", metavar="NAME")
    c.add_argument(
        "--type",
        type=str.lower,
        choices=tuple(NETWORK_TYPES),
        default="nat",
        help="network type (default: nat)",
    )
    c.add_argument(
        "--prefix",
        type=cidr_prefix,
        default="172.30.0.0/16",
        help="the subnet, a CIDR prefix (default: 172.30.0.0/16)",
    )
    c.add_argument("--gateway", type=ip_address, default=None, help="default gateway address")
    _new_id(c, "network")
    _id_action(group, "inspect", "network", "print a network's properties")
    _id_action(group, "delete", "network", "delete a network (it must have no endpoints)")
    c = group.add_parser(
        "watch",
        help="print the HCN service's notifications until Ctrl-C",
        description="Print each notification of the HCN service (networks and namespaces "
        "created and deleted, endpoints attached and detached, ...) until Ctrl-C, "
        "--count or --timeout.",
    )
    c.add_argument(
        "-n", "--count", type=positive_int, default=None, metavar="N", help="stop after N"
    )
    c.add_argument("--timeout", type=seconds, default=None, metavar="S", help="stop after S")
    _json_flag(c, "print JSON lines, one per notification")


def _add_endpoint(sub: Any) -> None:
    group = _group(
        sub,
        "endpoint",
        "list, create, inspect, delete",
        "Host Compute Network endpoints: an address on a network, for a namespace or a "
        "compute system's network adapter.",
    )
    c = group.add_parser(
        "create",
        help="create an endpoint on a network",
        description="Create an endpoint on network --network, with address --ip (default: "
        "the next free address of the network's pool). Prints the new endpoint's id.",
    )
    c.add_argument("--network", type=guid, required=True, help="the network's id")
    c.add_argument("--ip", type=ip_address, default=None, help="the endpoint's address")
    c.add_argument("--name", default=None, help="the endpoint's name")
    _new_id(c, "endpoint")
    _id_action(group, "inspect", "endpoint", "print an endpoint's properties")
    _id_action(group, "delete", "endpoint", "delete an endpoint (its address is freed)")


def _add_namespace(sub: Any) -> None:
    group = _group(
        sub,
        "namespace",
        "list, create, inspect, delete, attach, detach",
        "Host Compute Network namespaces: the endpoints a container shares.",
    )
    c = group.add_parser(
        "create",
        help="create an empty namespace",
        description="Create an empty namespace and print its id.",
    )
    _new_id(c, "namespace")
    _id_action(group, "inspect", "namespace", "print a namespace's properties")
    _id_action(group, "delete", "namespace", "delete a namespace")
    for action, text in (
        ("attach", "put an endpoint in a namespace"),
        ("detach", "take an endpoint out of a namespace"),
    ):
        c = group.add_parser(action, help=text, description=text[0].upper() + text[1:] + ".")
        c.add_argument("id", metavar="ID", type=guid, help="the namespace's id")
        c.add_argument("endpoint", metavar="ENDPOINT", type=guid, help="the endpoint's id")
        _json_flag(c)


def network_commands() -> dict[str, Callable[[Any, Context], Any]]:
    """The command table entries of the three groups."""
    return {"network": cmd_network, "endpoint": cmd_endpoint, "namespace": cmd_namespace}


# ---------------------------------------------------------------- shared actions


@dataclass(frozen=True)
class _Group:
    """What the ``list``, ``create``, ``inspect`` and ``delete`` of one group differ in."""

    #: The object's kind, as :mod:`aiohcs.hcn` spells it (``open_network``, ...).
    kind: str
    #: The id's member in a ``--json`` report (``Network``).
    key: str
    #: The columns of ``list`` and one row of them from a document.
    headers: tuple[str, ...]
    row: Callable[[dict[str, Any]], list[Any]]
    #: Create the object from the arguments: an open object.
    create: Callable[[Any], Awaitable[Any]]
    #: What ``create`` says after the id (``" (NAT network 'n1', 10.0.0.0/24)"``).
    created: Callable[[dict[str, Any], Any], str]
    #: Which documents ``list`` shows, given the arguments.
    keep: Callable[[dict[str, Any], Any], bool] = lambda doc, args: True


def _document(props: Any) -> dict[str, Any]:
    value = props.to_dict() if hasattr(props, "to_dict") else props
    return dict(value) if isinstance(value, dict) else {"Value": value}


def _report(ctx: Context, action: str, key: str, ident: str, text: str, **more: Any) -> None:
    if ctx.out.json:
        ctx.out.document({"Action": action, key: ident, **more})
    else:
        ctx.out.line(f"{ident}  {text}")


async def _run(group: _Group, action: str, args: Any, ctx: Context) -> int:
    """``list``, ``create``, ``inspect`` or ``delete`` in ``group``."""
    from aiohcs import hcn

    if action == "list":
        found = await getattr(hcn, f"enumerate_{group.kind}s")(detailed=True)
        docs = [doc for doc in map(_document, found) if group.keep(doc, args)]
        if ctx.out.json:
            ctx.out.document(docs)
        else:
            ctx.out.table(group.headers, [group.row(doc) for doc in docs])
    elif action == "create":
        async with await group.create(args) as obj:
            try:
                doc = _document(await obj.properties())
            except BaseException:  # (it exists: say which one before the error)
                _report(ctx, action, group.key, str(obj.id), "created; its properties failed")
                raise
        if ctx.out.json:
            ctx.out.document(doc)
        else:
            ctx.out.line(f"{doc.get('ID')}  created{group.created(doc, args)}")
        from aiohcs.cli._commands import note_own_emulator

        note_own_emulator(ctx, f"the {group.kind} {doc.get('ID')}")
    elif action == "inspect":
        async with await getattr(hcn, f"open_{group.kind}")(args.id) as obj:
            ctx.out.properties(_document(await obj.properties()))
    else:
        await getattr(hcn, f"delete_{group.kind}")(args.id)
        _report(ctx, "delete", group.key, args.id, "deleted")
    return 0


def _subnets(doc: dict[str, Any]) -> str:
    prefixes = [
        str(subnet.get("IpAddressPrefix"))
        for ipam in doc.get("Ipams") or []
        for subnet in ipam.get("Subnets") or []
    ]
    return ",".join(prefixes) or "-"


def _addresses(doc: dict[str, Any]) -> str:
    found = [str(c.get("IpAddress")) for c in doc.get("IpConfigurations") or []]
    return ",".join(a for a in found if a != "None") or "-"


def _endpoint_ids(doc: dict[str, Any]) -> list[str]:
    return [
        str((resource.get("Data") or {}).get("ID"))
        for resource in doc.get("Resources") or []
        if resource.get("Type") == "Endpoint"
    ]


# ---------------------------------------------------------------- network


async def _create_network(args: Any) -> Any:
    from aiohcs import hcn

    settings = hcn.nat_settings(args.name, args.prefix, gateway=args.gateway)
    settings["Type"] = NETWORK_TYPES[args.type]
    return await hcn.create_network(settings, id=args.id)


_NETWORKS: Final = _Group(
    kind="network",
    key="Network",
    headers=("ID", "NAME", "TYPE", "SUBNETS"),
    row=lambda d: [d.get("ID"), d.get("Name"), d.get("Type"), _subnets(d)],
    create=_create_network,
    created=lambda d, args: f" ({d.get('Type')} network {args.name!r}, {_subnets(d)})",
)


async def cmd_network(args: Any, ctx: Context) -> int:
    """Run one ``network`` action."""
    if args.network_command == "watch":
        return await _watch(args, ctx)
    return await _run(_NETWORKS, args.network_command, args, ctx)


async def _watch(args: Any, ctx: Context) -> int:
    """Print notifications until Ctrl-C (the runner's), ``--count`` or ``--timeout``."""
    from aiohcs import hcn

    printed = 0
    with anyio.move_on_after(args.timeout):
        async with hcn.notifications() as events:
            ctx.ready()
            async for event in events:
                _print_notification(ctx, event)
                if isinstance(event, hcn.ServiceDisconnected):
                    raise CliError("the HCN service disconnected: no more notifications")
                printed += 1
                if args.count is not None and printed >= args.count:
                    break
    return 0


def _print_notification(ctx: Context, event: Any) -> None:
    name = type(event).__name__
    if name == "Notification":  # (a type this version does not know)
        name = event.type.name
    network = getattr(event, "network_id", None)
    if ctx.out.json:
        ctx.out.document(
            {
                "Notification": name,
                "Type": int(event.type),
                "Status": f"0x{event.status & 0xFFFFFFFF:08X}",
                "Id": None if event.id is None else str(event.id),
                "Data": event.data,
            },
            lines=True,
        )
        return
    text = name if event.id is None else f"{name}  {event.id}"
    if network is not None:
        text += f"  network {network}"
    if not event.ok:
        text += f"  (failed: 0x{event.status & 0xFFFFFFFF:08X})"
    ctx.out.line(text)


# ---------------------------------------------------------------- endpoint


async def _create_endpoint(args: Any) -> Any:
    from aiohcs import hcn

    members: dict[str, Any] = {}
    if args.name is not None:
        members["Name"] = args.name
    if args.ip is not None:
        members["IpConfigurations"] = [{"IpAddress": args.ip}]
    async with await hcn.open_network(args.network) as network:
        return await network.create_endpoint(id=args.id, **members)


_ENDPOINTS: Final = _Group(
    kind="endpoint",
    key="Endpoint",
    headers=("ID", "NAME", "NETWORK", "ADDRESS", "MAC"),
    row=lambda d: [
        d.get("ID"),
        d.get("Name"),
        d.get("HostComputeNetwork"),
        _addresses(d),
        d.get("MacAddress"),
    ],
    create=_create_endpoint,
    created=lambda d, args: f" ({_addresses(d)} on network {args.network})",
    keep=lambda d, args: args.network in (None, str(d.get("HostComputeNetwork")).lower()),
)


async def cmd_endpoint(args: Any, ctx: Context) -> int:
    """Run one ``endpoint`` action."""
    return await _run(_ENDPOINTS, args.endpoint_command, args, ctx)


# ---------------------------------------------------------------- namespace


async def _create_namespace(args: Any) -> Any:
    from aiohcs import hcn

    return await hcn.create_namespace(id=args.id)


_NAMESPACES: Final = _Group(
    kind="namespace",
    key="Namespace",
    headers=("ID", "TYPE", "ENDPOINTS"),
    row=lambda d: [d.get("ID"), d.get("Type"), ",".join(_endpoint_ids(d)) or "-"],
    create=_create_namespace,
    created=lambda d, args: "",
)


async def cmd_namespace(args: Any, ctx: Context) -> int:
    """Run one ``namespace`` action (``attach`` and ``detach`` move an endpoint)."""
    from aiohcs import hcn

    action = args.namespace_command
    if action not in ("attach", "detach"):
        return await _run(_NAMESPACES, action, args, ctx)
    async with await hcn.open_namespace(args.id) as namespace:
        if action == "attach":
            await namespace.add_endpoint(args.endpoint)
        else:
            await namespace.remove_endpoint(args.endpoint)
    text = f"endpoint {args.endpoint} {action}ed"
    _report(ctx, action, "Namespace", args.id, text, Endpoint=args.endpoint)
    return 0
