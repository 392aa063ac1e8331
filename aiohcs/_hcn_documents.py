"""HCN documents in and out: the seam between :mod:`aiohcs.hcn` and the HCN models.

A settings, query or modification argument may be a model, a mapping or JSON text. It is
checked before anything reaches HNS: the document must be a JSON object HCS strings can
carry; when :mod:`aiohcs.schema.hcn` defines its type it is validated as that model; and
the addresses it names are checked whatever its form (a subnet prefix must be a CIDR
prefix with no host bits, a route's next hop and an endpoint's static address must lie in
their subnet or be valid addresses, no address twice). Failures raise
:class:`~aiohcs.errors.InvalidDocumentError`.

Returned documents are parsed into the type's model when there is one, else into plain
JSON values (dicts and lists).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterator, Mapping
from typing import Any, Final

from aiohcs import _documents, _json
from aiohcs.errors import InvalidDocumentError

__all__ = [
    "DEFAULT_QUERY",
    "SCHEMA_VERSION",
    "check_addresses",
    "model_of",
    "parse_result",
    "settings_object",
    "to_text",
]

#: The schema version of HNS's V2 documents (every HCN call takes V2).
SCHEMA_VERSION: Final = {"Major": 2, "Minor": 0}
#: The query HNS is given when the caller names none (as hcsshim's default query).
DEFAULT_QUERY: Final = {"SchemaVersion": SCHEMA_VERSION, "Flags": 0}

_IP = ipaddress.IPv4Address | ipaddress.IPv6Address
_NET = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.cache
def model_of(type_name: str) -> Any:
    """The model class of the HCN document type ``type_name`` (None if it has none yet)."""
    try:
        from aiohcs.schema import hcn
    except ImportError:
        return None
    model = getattr(hcn, type_name, None)
    return model if isinstance(model, type) else None


def settings_object(value: Any, type_name: str, *, argument: str) -> dict[str, Any]:
    """``value`` (model, mapping or JSON text of an object) as a dict, validated.

    Raises :class:`~aiohcs.errors.InvalidArgumentTypeError` for another type and
    :class:`~aiohcs.errors.InvalidDocumentError` for a document that is not valid.
    """
    model = model_of(type_name)
    if model is not None:
        text = _documents.document_text(value, type_name, argument=argument)
        if text is None:  # pragma: no cover - value is never None here
            return {}
    else:
        text = _documents.object_text(value, argument=argument)
        if text is None:
            return {}
    data = _json.read(text)
    if not isinstance(data, dict):  # pragma: no cover - object_text checked it
        raise InvalidDocumentError(type_name, [("", "expected a JSON object")], argument=argument)
    return data


def to_text(data: Mapping[str, Any], type_name: str, *, argument: str) -> str:
    """The JSON text of an already checked document ``data``."""
    text = _documents.object_text(data, argument=argument)
    assert text is not None
    return text


def parse_result(document: str | None, type_name: str | None) -> Any:
    """A returned document as the model ``type_name`` (when there is one) or JSON values."""
    if document is None or not document.strip():
        return None
    model = model_of(type_name) if type_name is not None else None
    if model is not None:
        return _documents.parse_model(document, type_name or "")
    return _json.read_lenient(document)


# ---------------------------------------------------------------- addresses


def _items(data: Mapping[str, Any], member: str) -> Iterator[tuple[int, dict[str, Any]]]:
    value = data.get(member)
    if isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, dict):
                yield i, item


def _network(value: Any, path: str, problems: list[tuple[str, str]]) -> _NET | None:
    try:
        return ipaddress.ip_network(value, strict=True)
    except (TypeError, ValueError) as exc:
        problems.append((path, f"not a CIDR prefix ({exc})"))
        return None


def _address(value: Any, path: str, problems: list[tuple[str, str]]) -> _IP | None:
    try:
        return ipaddress.ip_address(value)
    except (TypeError, ValueError):
        problems.append((path, f"not an IP address: {value!r}"))
        return None


def _network_problems(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    seen: dict[_NET, str] = {}
    for i, ipam in _items(data, "Ipams"):
        for j, subnet in _items(ipam, "Subnets"):
            path = f"Ipams.{i}.Subnets.{j}"
            if "IpAddressPrefix" not in subnet:
                continue
            net = _network(subnet["IpAddressPrefix"], f"{path}.IpAddressPrefix", problems)
            if net is None:
                continue
            other = next((p for n, p in seen.items() if n.overlaps(net)), None)
            if other is not None:
                problems.append((f"{path}.IpAddressPrefix", f"{net} overlaps the subnet {other}"))
            seen[net] = str(net)
            for k, route in _items(subnet, "Routes"):
                hop = route.get("NextHop")
                if hop is None:
                    continue
                where = f"{path}.Routes.{k}.NextHop"
                address = _address(hop, where, problems)
                if address is not None and address not in net:
                    problems.append((where, f"{address} is outside the subnet {net}"))
    return problems


def _endpoint_problems(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    seen: set[_IP] = set()
    for i, config in _items(data, "IpConfigurations"):
        path = f"IpConfigurations.{i}"
        if "IpAddress" not in config:
            continue
        address = _address(config["IpAddress"], f"{path}.IpAddress", problems)
        if address is None:
            continue
        if address in seen:
            problems.append((f"{path}.IpAddress", f"{address} is given twice"))
        seen.add(address)
        length = config.get("PrefixLength")
        if length is not None and (
            isinstance(length, bool)
            or not isinstance(length, int)
            or not 0 <= length <= address.max_prefixlen
        ):
            problems.append((f"{path}.PrefixLength", f"not a prefix length: {length!r}"))
    return problems


_CHECKS: Final = {
    "HostComputeNetwork": _network_problems,
    "HostComputeEndpoint": _endpoint_problems,
}


def check_addresses(data: Mapping[str, Any], type_name: str, *, argument: str) -> None:
    """Raise :class:`~aiohcs.errors.InvalidDocumentError` for bad addresses in ``data``."""
    check = _CHECKS.get(type_name)
    problems = check(data) if check is not None else []
    if problems:
        raise InvalidDocumentError(type_name, problems, argument=argument)
