"""Hyper-V socket addresses: the well-known VM ids, vsock ports and GUID argument checks.

The ids are those of the Windows SDK's ``hvsocket.h`` (also in mingw-w64's copy of it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from aiohcs._args import check_guid
from aiohcs.errors import InvalidArgumentError, InvalidArgumentTypeError

if TYPE_CHECKING:
    from typing_extensions import Self

#: What :mod:`aiohcs.hvsocket` re-exports (its ``__all__`` adds these).
__all__ = [
    "HV_GUID_BROADCAST",
    "HV_GUID_CHILDREN",
    "HV_GUID_LOOPBACK",
    "HV_GUID_PARENT",
    "HV_GUID_SILOHOST",
    "HV_GUID_VSOCK_TEMPLATE",
    "HV_GUID_WILDCARD",
    "HV_GUID_ZERO",
    "HvSocketAddress",
    "service_id_from_vsock_port",
    "vsock_port_from_service_id",
]

#: The null GUID.
HV_GUID_ZERO: Final = uuid.UUID("00000000-0000-0000-0000-000000000000")
#: Listen: accept connections from every partition (hvsocket.h: the same value as ZERO).
HV_GUID_WILDCARD: Final = HV_GUID_ZERO
#: Every partition.
HV_GUID_BROADCAST: Final = uuid.UUID("ffffffff-ffff-ffff-ffff-ffffffffffff")
#: Listen: accept connections from the child partitions (the VMs) of this host.
HV_GUID_CHILDREN: Final = uuid.UUID("90db8b89-0d35-4f79-8ce9-49ea0ac8b7cd")
#: This partition itself.
HV_GUID_LOOPBACK: Final = uuid.UUID("e0e16197-dd56-4a10-9195-5ee7a155a838")
#: The parent partition (from inside a VM: the host).
HV_GUID_PARENT: Final = uuid.UUID("a42e7cda-d03f-480c-9cc2-a4de20abb878")
#: The silo host (from inside a Hyper-V isolated container: its utility VM).
HV_GUID_SILOHOST: Final = uuid.UUID("36bd0c5c-7276-4223-88ba-7d03b654c568")
#: The service id of a vsock port: the port in the first 32 bits of this template.
HV_GUID_VSOCK_TEMPLATE: Final = uuid.UUID("00000000-facb-11e6-bd58-64006a7986d3")

_PORT_MAX: Final = 0xFFFFFFFF
_TEMPLATE_LOW: Final = HV_GUID_VSOCK_TEMPLATE.int & ((1 << 96) - 1)


class _Address(NamedTuple):
    vm_id: uuid.UUID
    service_id: uuid.UUID


class HvSocketAddress(_Address):
    """A Hyper-V socket address: the VM (partition) and the service in it.

    A named tuple of two :class:`uuid.UUID`; either may be given as GUID text (with or
    without braces). Anything else raises :class:`~aiohcs.errors.InvalidArgumentTypeError`,
    text that is no GUID :class:`~aiohcs.errors.InvalidArgumentError`.
    """

    __slots__ = ()

    def __new__(cls, vm_id: uuid.UUID | str, service_id: uuid.UUID | str) -> Self:
        """Check and convert both ids (see the class)."""
        vm, service = check_guid(vm_id, "vm_id"), check_guid(service_id, "service_id")
        return super().__new__(cls, vm, service)

    @classmethod  # (typeshed's _make is generic in its class: mypy sees an override)
    def _make(cls, iterable: Iterable[Any]) -> Self:  # type: ignore[override]
        """Check and convert like the constructor (``_replace`` goes through this too)."""
        return cls(*iterable)


def service_id_from_vsock_port(port: int) -> uuid.UUID:
    """The Hyper-V socket service id of vsock port ``port`` (0 to 2**32 - 1).

    Linux guests reach Hyper-V sockets through AF_VSOCK: a vsock port is the service id
    :data:`HV_GUID_VSOCK_TEMPLATE` with the port as its first 32 bits.
    """
    if isinstance(port, bool) or not isinstance(port, int):
        raise InvalidArgumentTypeError(f"port must be an int, not {type(port).__name__}")
    if not 0 <= port <= _PORT_MAX:
        raise InvalidArgumentError(f"port must be from 0 to {_PORT_MAX}, not {port}")
    return uuid.UUID(int=(port << 96) | _TEMPLATE_LOW)


def vsock_port_from_service_id(service_id: uuid.UUID | str) -> int | None:
    """The vsock port ``service_id`` stands for, or None if it is not of the vsock template."""
    sid = check_guid(service_id, "service_id")
    if sid.int & ((1 << 96) - 1) != _TEMPLATE_LOW:
        return None
    return sid.int >> 96
