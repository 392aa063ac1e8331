"""Shared pieces of the HCN document models: the base class, checked field types, versions.

Hand-written (there is no published machine-readable HCN schema). The member names and
types follow microsoft/hcsshim's ``hcn`` package (its JSON tags) and Microsoft's page "HCN
JSON document schemas"; each fact group names its source in a comment. Public names are
re-exported by :mod:`aiohcs.schema.hcn`.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from enum import IntEnum, IntFlag
from typing import Annotated, Any, ClassVar

from pydantic import AliasChoices, BeforeValidator, Field

from aiohcs._guid import guid_from_text
from aiohcs.schema._base import HcsModel, OpenEnum

__all__ = [
    "HNS_FEATURES",
    "U32",
    "H",
    "HcnGuid",
    "HcnModel",
    "IpAddress",
    "IpAddressOrPrefix",
    "IpPrefix",
    "MacAddress",
    "OpenIntEnum",
    "OpenStrEnum",
    "PortList",
    "PortNumber",
    "SchemaVersion",
    "UInt32Flags",
    "feature_supported",
    "hns_version",
]

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddr = ipaddress.IPv4Address | ipaddress.IPv6Address


def H(alias: str, *also: str) -> Any:
    """An optional member named *alias* in JSON; *also* are spellings accepted on input.

    Microsoft's schema page and hcsshim differ in a few spellings (``Id`` / ``ID``,
    ``IPConfigurations`` / ``IpConfigurations``); documents are written with hcsshim's (what
    HNS returns), both are read.
    """
    if also:
        return Field(
            default=None,
            validation_alias=AliasChoices(alias, *also),
            serialization_alias=alias,
        )
    return Field(default=None, validation_alias=alias, serialization_alias=alias)


# --- checked strings ----------------------------------------------------------------------


def _guid(value: object) -> object:
    # Ids are written lowercase without braces, as HNS writes them; any case and optional
    # braces are accepted (the contract), read as every id argument is.
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        guid = guid_from_text(value)
        if guid is None:
            raise ValueError(f"not a GUID: {value!r}")
        return str(guid)
    return value


def _address(value: object) -> object:
    if isinstance(value, IpAddr):
        return str(value)
    if isinstance(value, str):
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise ValueError(f"not an IP address: {value!r}") from None
    return value


def _prefix(value: object) -> object:
    if isinstance(value, IpNetwork):
        return str(value)
    if isinstance(value, str):
        if "/" not in value:
            raise ValueError(f"not a CIDR prefix (no /length): {value!r}")
        try:
            return str(ipaddress.ip_network(value, strict=True))
        except ValueError as exc:
            raise ValueError(f"not a valid CIDR prefix: {value!r} ({exc})") from None
    return value


def _address_or_prefix(value: object) -> object:
    if isinstance(value, str) and "/" in value:
        return _prefix(value)
    return _address(value)


_MAC_RE = re.compile(r"^[0-9A-Fa-f]{2}([-:])[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2}){4}$")


def _mac(value: object) -> object:
    # HNS writes "00-15-5D-..."; colons are accepted too. The spelling is kept.
    if isinstance(value, str) and _MAC_RE.match(value) is None:
        raise ValueError(f"not a MAC address (six hex pairs, '-' or ':'): {value!r}")
    return value


def _port_list(value: object) -> object:
    # ACL / proxy port members are strings: "80", "80,443", "1000-2000" (hcnpolicy.go).
    if not isinstance(value, str) or value == "":
        return value
    for part in value.split(","):
        bounds = part.strip().split("-")
        if len(bounds) > 2 or not all(b.strip().isdigit() for b in bounds):
            raise ValueError(f"not a port list: {value!r}")
        numbers = [int(b) for b in bounds]
        if any(n > 0xFFFF for n in numbers):
            raise ValueError(f"port out of range 0..65535 in {value!r}")
        if len(numbers) == 2 and numbers[0] > numbers[1]:
            raise ValueError(f"port range runs backwards in {value!r}")
    return value


#: A GUID; accepts any case, optional braces and :class:`uuid.UUID`; written lowercase.
HcnGuid = Annotated[str, BeforeValidator(_guid)]
#: An IPv4 or IPv6 address, written in its canonical form.
IpAddress = Annotated[str, BeforeValidator(_address)]
#: A CIDR prefix (``"10.0.0.0/24"``): the ``/length`` is required, host bits must be zero.
IpPrefix = Annotated[str, BeforeValidator(_prefix)]
#: An address or a CIDR prefix (outbound NAT exceptions and destinations).
IpAddressOrPrefix = Annotated[str, BeforeValidator(_address_or_prefix)]
#: A MAC address: six hex pairs separated by ``-`` (as HNS writes them) or ``:``.
MacAddress = Annotated[str, BeforeValidator(_mac)]
#: A port number 0..65535.
PortNumber = Annotated[int, Field(ge=0, le=0xFFFF)]
#: Ports as text: ``"80"``, ``"80,443"``, ``"1000-2000"``; each port 0..65535.
PortList = Annotated[str, BeforeValidator(_port_list)]


# --- enums --------------------------------------------------------------------------------


class OpenStrEnum(OpenEnum):
    """A string enum of HCN: values the model does not list are kept (``.known`` is False).

    :meth:`since` gives the HNS version that added a value, where hcsshim records one.
    """

    @classmethod
    def since(cls, value: str | None = None) -> str | None:
        """First HNS version (``"13.0"``) with *value*; ``None`` where none is recorded."""
        if value is None:
            return None
        feature = _ENUM_FEATURES.get((cls.__name__, str(cls(value).value)))
        return None if feature is None else _first(feature)

    @classmethod
    def until(cls, value: str | None = None) -> str | None:
        """Always ``None``: no HCN value has been withdrawn."""
        return None


class OpenIntEnum(IntEnum):
    """A numeric enum of HCN: unlisted numbers (0..2**32-1) are kept as pseudo-members."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0xFFFFFFFF:
            return None
        pseudo = int.__new__(cls, value)
        pseudo._name_ = str(value)
        pseudo._value_ = value
        return pseudo

    @property
    def known(self) -> bool:
        """Whether this value is one the model lists."""
        return self._value_ in type(self)._value2member_map_


def _uint32(value: object) -> object:
    # Flags and numeric enums are JSON numbers, 32-bit unsigned in hcsshim (uint32); booleans
    # and numeric text are refused (hcsshim could not read them either).
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xFFFFFFFF:
        return value
    raise ValueError(f"not a 32-bit unsigned number: {value!r}")


#: Applied to flag and numeric-enum members: a clear error for a number out of 0..2**32-1.
U32 = BeforeValidator(_uint32)


class UInt32Flags(IntFlag):
    """A 32-bit flag set of HCN; unknown bits are kept (written back as the same number)."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0xFFFFFFFF:
            return None
        return super()._missing_(value)


# --- HNS versions -------------------------------------------------------------------------
# Source: hcsshim hcn/hcnglobals.go (the VersionRanges per feature) and hcn/hcnsupport.go
# (the feature names of SupportedFeatures). Each range is ((major, minor), (major, minor)),
# both ends included; None = no upper bound.

_Version = tuple[int, int]
_Range = tuple[_Version, _Version | None]
_OPEN = None

HNS_FEATURES: dict[str, tuple[_Range, ...]] = {
    "Acl": (((7, 2), _OPEN),),
    "V2Api": (((9, 2), _OPEN),),
    "RemoteSubnet": (((9, 2), _OPEN),),
    "HostRoute": (((9, 2), _OPEN),),
    "DSR": (((9, 3), (9, 2**31 - 1)), ((10, 2), _OPEN)),
    "Slash32EndpointPrefixes": (((9, 3), (9, 2**31 - 1)), ((10, 4), _OPEN)),
    "AclSupportForProtocol252": (((11, 0), _OPEN),),
    "SessionAffinity": (((12, 0), _OPEN),),
    "IPv6DualStack": (((11, 10), _OPEN),),
    "SetPolicy": (((13, 0), _OPEN),),
    "VxlanPort": (((10, 3), _OPEN),),
    "L4Proxy": (
        ((9, 5), (9, 2**31 - 1)),
        ((10, 5), (10, 2**31 - 1)),
        ((11, 11), (11, 2**31 - 1)),
        ((12, 1), (12, 2**31 - 1)),
        ((13, 1), _OPEN),
    ),
    "L4WfpProxy": (((13, 2), _OPEN),),
    "TierAcl": (((14, 0), _OPEN),),
    "NetworkACL": (((15, 0), _OPEN),),
    "NestedIpSet": (((15, 0), _OPEN),),
    "DisableHostPort": (((15, 1), _OPEN),),
    "ModifyLoadbalancer": (((15, 4), _OPEN),),
    "Accelnet": (((15, 4), _OPEN),),
}

# Which enum value needs which feature (hcsshim gates each policy type on the feature of
# the same name: hcn/hcn.go *Supported(), hcnglobals.go).
_ENUM_FEATURES: dict[tuple[str, str], str] = {
    ("EndpointPolicyType", "ACL"): "Acl",
    ("EndpointPolicyType", "L4WFPPROXY"): "L4WfpProxy",
    ("EndpointPolicyType", "TierAcl"): "TierAcl",
    ("NetworkPolicyType", "RemoteSubnetRoute"): "RemoteSubnet",
    ("NetworkPolicyType", "HostRoute"): "HostRoute",
    ("NetworkPolicyType", "SetPolicy"): "SetPolicy",
    ("NetworkPolicyType", "VxlanPort"): "VxlanPort",
    ("NetworkPolicyType", "L4Proxy"): "L4Proxy",
    ("NetworkPolicyType", "NetworkACL"): "NetworkACL",
    ("SetPolicyType", "NESTEDIPSET"): "NestedIpSet",
}
# Flag bits that need a feature (hcnglobals.go: DisableHostPort 15.1, DSR, IPv6DualStack).
_FLAG_FEATURES: dict[tuple[str, int], str] = {
    ("NetworkFlags", 1024): "DisableHostPort",
    ("LoadBalancerFlags", 1): "DSR",
    ("LoadBalancerFlags", 2): "IPv6DualStack",
}


def hns_version(version: str | tuple[int, int]) -> tuple[int, int]:
    """Parse an HNS version: ``"13.2"`` or ``(13, 2)`` → ``(13, 2)``."""
    if isinstance(version, tuple):
        major, minor = version
    else:
        parts = version.split(".")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError(f"not an HNS version (major.minor): {version!r}")
        major, minor = int(parts[0]), int(parts[1])
    return major, minor


def feature_supported(feature: str, version: str | tuple[int, int]) -> bool:
    """Whether HNS *version* has *feature* (a key of :data:`HNS_FEATURES`), as hcsshim says."""
    v = hns_version(version)
    return any(lo <= v and (hi is None or v <= hi) for lo, hi in HNS_FEATURES[feature])


def _first(feature: str) -> str:
    major, minor = HNS_FEATURES[feature][0][0]
    return f"{major}.{minor}"


# --- base model ---------------------------------------------------------------------------


class HcnModel(HcsModel):
    """Base of every HCN document: the conventions of :class:`~aiohcs.schema.HcsModel`.

    Optional snake_case fields with the JSON names as aliases, unknown members kept,
    ``None`` left out of :meth:`to_dict` / :meth:`to_json`, assignments validated. HCN has
    no per-release schema files: :meth:`since` gives the HNS version (``"13.0"``) that added
    a type where hcsshim records one, and :meth:`unsupported_in` checks a document against
    an HNS version.
    """

    #: The HNS feature (a key of HNS_FEATURES) this type needs, if any.
    __hcn_feature__: ClassVar[str | None] = None

    @classmethod
    def schema_name(cls) -> str:
        """The name of this type (hcsshim's Go type name)."""
        return cls.__hcs_name__ or cls.__name__

    @classmethod
    def since(cls, member: str | None = None) -> str | None:
        """First HNS version with this type (``None``: in every V2 version, or unrecorded)."""
        if member is not None:
            return None
        return None if cls.__hcn_feature__ is None else _first(cls.__hcn_feature__)

    @classmethod
    def until(cls, member: str | None = None) -> str | None:
        """Always ``None``: no HCN type or member has been withdrawn."""
        return None

    def unsupported_in(self, release: str) -> list[str]:
        """What this document uses that HNS version *release* (``"12.0"``) lacks.

        Entries are ``"<JSON path>=<value>: needs <feature> (HNS <versions>)"`` for policy
        types, set-policy kinds and flag bits that hcsshim gates on a version. Empty when
        the document needs nothing newer.
        """
        version = hns_version(release)
        out: list[str] = []

        def need(path: str, value: object, feature: str) -> None:
            if not feature_supported(feature, version):
                spans = ", ".join(
                    f"{lo[0]}.{lo[1]}+" if hi is None else f"{lo[0]}.{lo[1]}..{hi[0]}.x"
                    for lo, hi in HNS_FEATURES[feature]
                )
                out.append(f"{path}={value}: needs {feature} (HNS {spans})")

        def walk(value: object, path: str) -> None:
            if isinstance(value, HcnModel):
                feature = type(value).__hcn_feature__
                if feature is not None:
                    need(path or type(value).__name__, type(value).__name__, feature)
                for attr, field in type(value).model_fields.items():
                    member = getattr(value, attr)
                    if member is None:
                        continue
                    alias = field.serialization_alias or attr
                    walk(member, f"{path}.{alias}" if path else alias)
            elif isinstance(value, OpenEnum):
                feature = _ENUM_FEATURES.get((type(value).__name__, str(value.value)))
                if feature is not None:
                    need(path, value.value, feature)
            elif isinstance(value, IntFlag):
                for (name, bit), feature in _FLAG_FEATURES.items():
                    if type(value).__name__ == name and int(value) & bit:
                        need(path, bit, feature)
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    walk(item, f"{path}.{i}")

        walk(self, "")
        return out


class SchemaVersion(HcnModel):
    """``{"Major": 2, "Minor": 0}``: the HCN schema version of a document or query.

    Source: hcsshim hcn/hcn.go (``SchemaVersion = Version``, ``V2SchemaVersion()`` is 2.0),
    hcnglobals.go (``Version{Major, Minor int}``); the schema page lists both as uint32.
    """

    major: Annotated[int, Field(ge=0, le=0xFFFFFFFF)] | None = H("Major")
    minor: Annotated[int, Field(ge=0, le=0xFFFFFFFF)] | None = H("Minor")


def v2() -> SchemaVersion:
    """A new ``SchemaVersion`` 2.0 (what hcsshim sets on the documents it builds)."""
    return SchemaVersion(major=2, minor=0)


def in_network(address: str, prefix: str) -> bool:
    """Whether *address* lies in the CIDR *prefix* (False across IP versions)."""
    net = ipaddress.ip_network(prefix, strict=False)
    addr = ipaddress.ip_address(address)
    return addr.version == net.version and addr in net


def overlaps(a: str, b: str) -> bool:
    """Whether two CIDR prefixes share an address (False across IP versions)."""
    na = ipaddress.ip_network(a, strict=False)
    nb = ipaddress.ip_network(b, strict=False)
    return na.version == nb.version and na.overlaps(nb)
