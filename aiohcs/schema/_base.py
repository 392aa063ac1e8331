"""Base classes and field types shared by the generated HCS schema models.

Hand-written. The generated modules (``_enums.py``, ``_types/*.py``, ``_since.py``, ...)
build on what is defined here:

* :class:`HcsModel` -- every HCS document type. Fields are optional, unknown members are kept
  and written back, construction works with the snake_case attribute names and with the
  PascalCase JSON names, and :meth:`HcsModel.to_dict` / :meth:`HcsModel.to_json` give the
  document HCS expects.
* :class:`OpenEnum` -- every HCS enum. A value the schema does not list is kept as a
  pseudo-member instead of being rejected; ``""`` and ``"Unknown"``/``"Unspecified"`` are
  interchangeable spellings where the schema has an empty member.
* ``UInt8`` ... ``Int64`` and ``Guid`` -- range- and pattern-checked field types;
  ``HResult32`` -- an HRESULT member: read signed or unsigned, held as an
  :class:`~aiohcs.errors.HResultValue` (prints ``0x8037010E``), written signed as HCS does.
"""

import re
import uuid
from collections.abc import Iterator, Mapping
from enum import Enum
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
)

from aiohcs._hresult import HResultValue

__all__ = [
    "F",
    "Guid",
    "HResult32",
    "HcsModel",
    "Int32",
    "Int64",
    "OpenEnum",
    "UInt8",
    "UInt16",
    "UInt32",
    "UInt64",
    "release_key",
]

UInt8 = Annotated[int, Field(ge=0, le=0xFF)]
UInt16 = Annotated[int, Field(ge=0, le=0xFFFF)]
UInt32 = Annotated[int, Field(ge=0, le=0xFFFF_FFFF)]
UInt64 = Annotated[int, Field(ge=0, le=0xFFFF_FFFF_FFFF_FFFF)]
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


def _signed32(value: int) -> int:
    return HResultValue(value).signed


#: An HRESULT member (HCS writes them as signed 32-bit numbers): either spelling is read,
#: the value is an :class:`~aiohcs.errors.HResultValue`, documents get the signed number.
HResult32 = Annotated[
    int,
    Field(ge=-(2**31), le=0xFFFF_FFFF),
    AfterValidator(HResultValue),
    PlainSerializer(_signed32, return_type=int),
]

GUID_PATTERN = r"^[0-9A-Fa-f]{8}-([0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}$"


def _guid_from_uuid(value: object) -> object:
    return str(value) if isinstance(value, uuid.UUID) else value


#: A GUID string ``xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`` (a :class:`uuid.UUID` is accepted too).
Guid = Annotated[str, BeforeValidator(_guid_from_uuid), StringConstraints(pattern=GUID_PATTERN)]

_M = TypeVar("_M", bound="HcsModel")

_RELEASE_RE = re.compile(r"^(\d\d)(\d\d|H[12])$")


def release_key(release: str) -> tuple[int, int]:
    """Sort key for Windows SDK release names: ``1809`` < ``2104`` < ``21H2``."""
    m = _RELEASE_RE.match(release)
    if m is None:
        raise ValueError(f"not a Windows release name: {release!r}")
    year, rest = m.groups()
    month = 6 * int(rest[1]) if rest.startswith("H") else int(rest)
    return int(year), month


def F(alias: str) -> Any:
    """Declare an optional field whose JSON name is *alias* (generated code only)."""
    return Field(default=None, validation_alias=alias, serialization_alias=alias)


def _since_tables() -> Any:
    from aiohcs.schema import _since

    return _since


class HcsModel(BaseModel):
    """Base of every HCS schema document.

    * Every field is optional and defaults to ``None``; ``None`` members are left out of
      :meth:`to_dict` / :meth:`to_json`.
    * Build instances with snake_case keywords (``ComputeSystem(schema_version=...)``) or the
      JSON names (``ComputeSystem(SchemaVersion=...)``, ``ComputeSystem.model_validate(doc)``).
    * Members the schema does not know (``OciProcess`` inside ``ProcessParameters``, say) are
      kept as extra attributes and serialized back unchanged.
    * Assignments are validated.
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
        validate_assignment=True,
        defer_build=True,
    )

    #: The schema name of the type, when it differs from the Python class name.
    __hcs_name__: ClassVar[str | None] = None

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # Leave unset members out of repr(): most documents set a handful of many fields.
        for name, value in super().__repr_args__():
            if value is not None:
                yield name, value

    def to_dict(self) -> dict[str, Any]:
        """The HCS JSON document as plain Python data (JSON names, ``None`` left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def to_json(self, *, indent: int | None = None) -> str:
        """The HCS JSON document as text (JSON names, ``None`` left out)."""
        return self.model_dump_json(by_alias=True, exclude_none=True, indent=indent)

    @classmethod
    def from_json(cls: type[_M], data: str | bytes | bytearray) -> _M:
        """Parse and validate an HCS JSON document."""
        return cls.model_validate_json(data)

    @classmethod
    def coerce(cls: type[_M], value: object) -> _M:
        """Accept an instance, a mapping or JSON text and return a validated instance.

        An instance of *cls* is returned as it is; anything else is validated (a failure raises
        :class:`pydantic.ValidationError`, whose locations are the JSON member names).
        """
        if isinstance(value, cls):
            return value
        if isinstance(value, HcsModel):
            return cls.model_validate(value.to_dict())
        if isinstance(value, str | bytes | bytearray):
            return cls.model_validate_json(value)
        if isinstance(value, Mapping):
            return cls.model_validate(dict(value))
        raise TypeError(
            f"{cls.__name__} expects a model, a mapping or JSON text, not {type(value).__name__}"
        )

    @classmethod
    def schema_name(cls) -> str:
        """The name of this type in the HCS schema."""
        for klass in cls.__mro__:
            if klass.__module__.startswith("aiohcs.schema._types."):
                name: str | None = getattr(klass, "__hcs_name__", None)
                return name or klass.__name__
        raise TypeError(f"{cls.__name__} is not a generated HCS schema type")

    @classmethod
    def _json_member(cls, member: str) -> str:
        fields = cls.model_fields
        if member in fields:
            alias = fields[member].serialization_alias
            return alias if alias is not None else member
        return member

    @classmethod
    def since(cls, member: str | None = None) -> str | None:
        """First Windows SDK release whose schema has this type (or its *member*).

        *member* may be the attribute name or the JSON name. Returns ``None`` for a member the
        schema does not define (an extension member). Member history counts the type this one
        replaced (2104 renamed ``Memory_2`` to ``VirtualMachine_Memory`` and so on; the JSON
        stayed the same), so ``VirtualMachine_Memory.since("SizeInMB")`` is ``"1809"`` while
        ``VirtualMachine_Memory.since()`` is ``"2104"``.
        """
        tables = _since_tables()
        name = cls.schema_name()
        if member is None:
            return str(tables.TYPES[name][0])
        span = tables.MEMBERS[name].get(cls._json_member(member))
        return None if span is None else str(span[0])

    @classmethod
    def until(cls, member: str | None = None) -> str | None:
        """Last release whose schema has this type (or *member*); ``None`` if still current.

        Also ``None`` for a member the schema does not define.
        """
        tables = _since_tables()
        name = cls.schema_name()
        if member is None:
            last = tables.TYPES[name][1]
        else:
            span = tables.MEMBERS[name].get(cls._json_member(member))
            if span is None:
                return None
            last = span[1]
        return None if last == tables.RELEASES[-1] else str(last)

    def unsupported_in(self, release: str) -> list[str]:
        """Members set in this document that the schema of *release* does not have.

        Each entry is ``"<JSON path>: <first>..<last release>"``, e.g.
        ``"VirtualMachine.Chipset.LinuxKernelDirect: 1903..21H2"`` for a document checked
        against ``"1809"``; enum values are checked too. Members the schema does not know in
        any release (extensions) are not reported. An empty list means every member is there.
        """
        tables = _since_tables()
        if release not in tables.RELEASES:
            raise ValueError(f"unknown release {release!r}; known: {', '.join(tables.RELEASES)}")
        key = release_key(release)
        out: list[str] = []

        def outside(span: tuple[str, str]) -> bool:
            return not release_key(span[0]) <= key <= release_key(span[1])

        def walk(value: object, path: str) -> None:
            if isinstance(value, HcsModel):
                # Type names are not on the wire (2104 renamed several), members are.
                name = value.schema_name()
                for attr, field in type(value).model_fields.items():
                    member = getattr(value, attr)
                    if member is None:
                        continue
                    alias = field.serialization_alias or attr
                    sub = f"{path}.{alias}" if path else alias
                    span = tables.MEMBERS[name].get(alias)
                    if span is not None and outside(span):
                        out.append(f"{sub}: {span[0]}..{span[1]}")  # and not its contents
                    else:
                        walk(member, sub)
            elif isinstance(value, OpenEnum) and value.known:
                span = tables.MEMBERS[type(value).__name__].get(value.value)
                if span is not None and outside(span):
                    out.append(f"{path}={value.value!r}: {span[0]}..{span[1]}")
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    walk(item, f"{path}.{i}")
            elif isinstance(value, dict):
                for k, item in value.items():
                    walk(item, f"{path}.{k}")

        walk(self, "")
        return out


class OpenEnum(str, Enum):
    """Base of every HCS enum: a ``str`` that also accepts values the schema does not list.

    ``Kind("Surprise")`` returns a pseudo-member (not one of the listed members, but an
    instance of ``Kind`` that compares equal to ``"Surprise"`` and serializes as that text);
    :attr:`known` tells the two apart. Where the schema lists an empty-string member, the
    documentation's spellings ``"Unknown"`` and ``"Unspecified"`` map to it.
    """

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        if value in ("Unknown", "Unspecified") and "" in cls._value2member_map_:
            return cls._value2member_map_[""]
        pseudo = str.__new__(cls, value)
        pseudo._name_ = value
        pseudo._value_ = value
        return pseudo

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, format_spec: str) -> str:
        return format(str(self.value), format_spec)

    @property
    def known(self) -> bool:
        """Whether this value is one the schema lists (in any release)."""
        return self._value_ in type(self)._value2member_map_

    @classmethod
    def since(cls, value: str | None = None) -> str | None:
        """First release whose schema has this enum (or its *value*); ``None`` if unlisted."""
        tables = _since_tables()
        if value is None:
            return str(tables.TYPES[cls.__name__][0])
        span = tables.MEMBERS[cls.__name__].get(str(cls(value).value))
        return None if span is None else str(span[0])

    @classmethod
    def until(cls, value: str | None = None) -> str | None:
        """Last release whose schema has this enum (or *value*); ``None`` if still current."""
        tables = _since_tables()
        if value is None:
            last = tables.TYPES[cls.__name__][1]
        else:
            span = tables.MEMBERS[cls.__name__].get(str(cls(value).value))
            if span is None:
                return None
            last = span[1]
        return None if last == tables.RELEASES[-1] else str(last)
