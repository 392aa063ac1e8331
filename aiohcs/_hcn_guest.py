"""HCN guest network services and their port reservations.

A guest network service (``HCN_GUESTNETWORKSERVICE``) is created from a settings document
(no published schema: a JSON object) and owned like the other HCN objects: an async context
manager whose ``aclose`` closes the handle, never deletes the service. Through it a client
reserves host ports (``HcnReserveGuestNetworkServicePort`` / ``...PortRange``): each
reservation is a ``HANDLE`` owned by a :class:`PortReservation` (an async context manager)
and released with ``HcnReleaseGuestNetworkServicePortReservationHandle``.
:func:`enumerate_port_reservations` lists every reservation of the host
(``HCN_PORT_RANGE_ENTRY`` array, always freed with ``HcnFreeGuestNetworkPortReservations``).

Every call runs off the loop (:func:`aiohcs._hcn_call.hcn_call`); arguments are checked
before anything reaches C.
"""

from __future__ import annotations

import enum
import uuid
import weakref
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import anyio.abc
import anyio.lowlevel

from aiohcs import _json
from aiohcs._bridge import current_backend
from aiohcs._documents import object_text
from aiohcs._hcn_call import HcnOut, close_handle_detached, guid_from, hcn_call, uuid_from_any
from aiohcs._hcn_notify import NotificationStream
from aiohcs._hcn_object import HcnObject, Kind, check_not_empty, delete
from aiohcs._native import ffi, lib, to_wide
from aiohcs._unclosed import finalize_unclosed
from aiohcs.errors import HcsError, HResult, InvalidArgumentError, InvalidArgumentTypeError

__all__ = [
    "GuestNetworkService",
    "PortAccess",
    "PortProtocol",
    "PortRangeEntry",
    "PortReservation",
    "create_guest_network_service",
    "delete_guest_network_service",
    "enumerate_port_reservations",
]

_CLOSE_SERVICE: Final = "HcnCloseGuestNetworkService"
_RELEASE: Final = "HcnReleaseGuestNetworkServicePortReservationHandle"
_RESERVE_RANGE: Final = "HcnReserveGuestNetworkServicePortRange"


class PortProtocol(enum.IntEnum):
    """HCN_PORT_PROTOCOL: the protocol of a port reservation."""

    TCP = 0x01
    UDP = 0x02
    BOTH = 0x03


class PortAccess(enum.IntEnum):
    """HCN_PORT_ACCESS: whether a reserved port is exclusive or shared."""

    EXCLUSIVE = 0x01
    SHARED = 0x02


def _member(value: object, cls: type[enum.IntEnum], what: str) -> int:
    """``value`` as a member of ``cls`` (a member, or its name or value); checked."""
    if isinstance(value, cls):
        return int(value)
    if isinstance(value, str):
        try:
            return int(cls[value.upper()])
        except KeyError:
            pass
    elif isinstance(value, int) and not isinstance(value, bool):
        try:
            return int(cls(value))
        except ValueError:
            pass
    else:
        raise InvalidArgumentTypeError(
            f"{what} must be a {cls.__name__} member, not {type(value).__name__}"
        )
    names = ", ".join(m.name for m in cls)
    raise InvalidArgumentError(f"{what} must be one of {names}, not {value!r}")


def _port_number(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentTypeError(f"{what} must be an int, not {type(value).__name__}")
    if not 1 <= value <= 65535:
        raise InvalidArgumentError(f"{what} must be in 1..65535, not {value}")
    return value


def _uuid_of(guid: Any) -> uuid.UUID:
    """A C ``GUID`` (cdata) as a :class:`uuid.UUID`."""
    tail = bytes(guid.Data4)
    return uuid.UUID(
        fields=(
            guid.Data1,
            guid.Data2,
            guid.Data3,
            tail[0],
            tail[1],
            int.from_bytes(tail[2:], "big"),
        )
    )


@dataclass(frozen=True)
class PortRangeEntry:
    """One entry of :func:`enumerate_port_reservations` (an ``HCN_PORT_RANGE_ENTRY``).

    ``protocol`` is a :class:`PortProtocol` (the raw number if the host sends another);
    the other numbers are as the host reports them.
    """

    owning_partition_id: uuid.UUID
    target_partition_id: uuid.UUID
    protocol: PortProtocol | int
    priority: int
    reservation_type: int
    sharing_flags: int
    delivery_mode: int
    starting_port: int
    ending_port: int


def _entry(c: Any) -> PortRangeEntry:
    protocol = int(c.Protocol)
    try:
        typed: PortProtocol | int = PortProtocol(protocol)
    except ValueError:
        typed = protocol
    return PortRangeEntry(
        owning_partition_id=_uuid_of(c.OwningPartitionId),
        target_partition_id=_uuid_of(c.TargetPartitionId),
        protocol=typed,
        priority=int(c.Priority),
        reservation_type=int(c.ReservationType),
        sharing_flags=int(c.SharingFlags),
        delivery_mode=int(c.DeliveryMode),
        starting_port=int(c.StartingPort),
        ending_port=int(c.EndingPort),
    )


async def enumerate_port_reservations() -> list[PortRangeEntry]:
    """Every port reservation of the host (``HcnEnumerateGuestNetworkPortReservations``)."""
    entries: list[PortRangeEntry] = []

    def call(out: HcnOut) -> int:
        del out  # (this export hands out no strings)
        count = ffi.new("ULONG *")
        array = ffi.new("HCN_PORT_RANGE_ENTRY **")
        hr: int = lib.HcnEnumerateGuestNetworkPortReservations(count, array)
        try:
            if hr >= 0 and array[0] != ffi.NULL:
                entries.extend(_entry(array[0][i]) for i in range(count[0]))
        finally:
            if array[0] != ffi.NULL:
                lib.HcnFreeGuestNetworkPortReservations(array[0])
        return hr

    await hcn_call("HcnEnumerateGuestNetworkPortReservations", call, subject="port reservations")
    return entries


class PortReservation(anyio.abc.AsyncResource):
    """A reserved host port, or range of ports, of a guest network service.

    ``start`` and ``end`` are the first and last port (equal for one port); ``protocol``
    and ``access`` are None for a range. An async context manager: :meth:`release` (or
    :meth:`aclose`, or leaving the ``async with``) releases the reservation's handle.
    """

    def __init__(
        self,
        handle: int,
        start: int,
        end: int,
        *,
        service: uuid.UUID,
        protocol: PortProtocol | None = None,
        access: PortAccess | None = None,
    ) -> None:
        self._handle = handle
        self.start = start
        self.end = end
        self.service_id = service
        self.protocol = protocol
        self.access = access

    @property
    def released(self) -> bool:
        """Whether the reservation has been released."""
        return self._handle == 0

    async def release(self) -> None:
        """Release the reservation (off the loop; idempotent).

        Runs to its end whatever cancels the caller; that cancellation is raised after.
        """
        handle, self._handle = self._handle, 0
        if not handle:
            await anyio.lowlevel.checkpoint()
            return

        def call(out: HcnOut) -> int:
            del out
            hr: int = lib.HcnReleaseGuestNetworkServicePortReservationHandle(
                ffi.cast("HANDLE", handle)
            )
            return hr

        made = False

        def call_once(out: HcnOut) -> int:
            nonlocal made
            made = True
            return call(out)

        async def release() -> None:
            await hcn_call(_RELEASE, call_once, subject=f"port reservation {self._ports()}")

        try:
            _, cancelled = await current_backend().run_shielded(release)
        except BaseException:
            if not made:  # (refused before the call, e.g. no thread: never leak the handle)
                close_handle_detached(_RELEASE, handle)
            raise
        if cancelled is not None:
            raise cancelled

    async def aclose(self) -> None:
        """Same as :meth:`release`."""
        await self.release()

    def _ports(self) -> str:
        return str(self.start) if self.start == self.end else f"{self.start}-{self.end}"

    def __repr__(self) -> str:
        state = " released" if self.released else ""
        return f"<PortReservation {self._ports()} of {self.service_id}{state}>"

    def __del__(self) -> None:
        handle = getattr(self, "_handle", 0)
        if handle:
            self._handle = 0
            finalize_unclosed(
                self,
                f"port reservation {self._ports()}",
                lambda: close_handle_detached(_RELEASE, handle),
            )


def _register_callback(service: Any, context: Any) -> tuple[int, Any]:
    out = ffi.new("HCN_CALLBACK *")
    hr: int = lib.HcnRegisterGuestNetworkServiceCallback(
        service, lib.aiohcs_hcn_notification_callback, context, out
    )
    return hr, out[0]


def _unregister_callback(handle: Any) -> int:
    hr: int = lib.HcnUnregisterGuestNetworkServiceCallback(handle)
    return hr


_KIND: Final = Kind(
    "guest network service", "GuestNetworkService", "GuestNetworkServices", "GuestNetworkService"
)


class GuestNetworkService(HcnObject):
    """An open guest network service (``HCN_GUESTNETWORKSERVICE``).

    An async context manager: :meth:`aclose` (or leaving the ``async with``) ends its
    notification streams and closes the handle; it never deletes the service
    (:meth:`delete` does). Port reservations are objects of their own: release each one.
    """

    _kind: ClassVar[Kind] = _KIND
    _streams: weakref.WeakSet[NotificationStream]

    @classmethod
    def _adopt(cls, handle: int, id: uuid.UUID) -> GuestNetworkService:
        obj = super()._adopt(handle, id)
        obj._streams = weakref.WeakSet()  # (one dropped unclosed still warns)
        return obj

    async def properties(self, query: Any = None) -> Any:
        """Not available: raises :class:`NotImplementedError`.

        computenetwork exports no query of a guest network service (no
        ``HcnQueryGuestNetworkServiceProperties`` on any Windows release), so there is
        nothing to call; keep what was passed to the create instead.
        """
        raise NotImplementedError(
            f"the {self._subject} has no properties to query: computenetwork exports no "
            "HcnQueryGuestNetworkServiceProperties (keep the settings given to the create)"
        )

    async def modify(self, request: Any) -> None:
        """Apply a modification (no published schema: a model, mapping or JSON object text).

        An empty request (``{}``) is refused before it is sent.
        """
        raw = object_text(request, argument="request")
        check_not_empty(_json.read(raw) if raw else {}, self._subject)
        text = to_wide(raw)

        def call(handle: Any, out: HcnOut) -> int:
            hr: int = lib.HcnModifyGuestNetworkService(handle, text, out.error_record)
            return hr

        await self._handle_call("HcnModifyGuestNetworkService", call)

    async def reserve_port(
        self, protocol: PortProtocol | str | int, access: PortAccess | str | int, port: int
    ) -> PortReservation:
        """Reserve one host ``port`` for ``protocol`` with ``access``; returns its reservation."""
        proto = PortProtocol(_member(protocol, PortProtocol, "protocol"))
        mode = PortAccess(_member(access, PortAccess, "access"))
        number = _port_number(port, "port")

        def call(handle: Any, out: HcnOut) -> int:
            hr: int = lib.HcnReserveGuestNetworkServicePort(
                handle, int(proto), int(mode), number, out.handle
            )
            return hr

        result = await self._handle_call("HcnReserveGuestNetworkServicePort", call, close=_RELEASE)
        return PortReservation(
            result.handle, number, number, service=self.id, protocol=proto, access=mode
        )

    async def reserve_port_range(self, count: int) -> PortReservation:
        """Reserve ``count`` consecutive host ports (the reservation says which).

        The range comes from the host's dynamic port range (by default 49152-65535, 16384
        ports): a larger ``count`` is refused by HNS with ``E_INVALIDARG``, raised as an
        :class:`~aiohcs.errors.HcsError` whose message says so.
        """
        number = _port_number(count, "count")
        ports = ffi.new("HCN_PORT_RANGE_RESERVATION *")

        def call(handle: Any, out: HcnOut) -> int:
            hr: int = lib.HcnReserveGuestNetworkServicePortRange(handle, number, ports, out.handle)
            return hr

        try:
            result = await self._handle_call(_RESERVE_RANGE, call, close=_RELEASE)
        except HcsError as exc:
            if exc.hresult != HResult.E_INVALIDARG:
                raise
            raise HcsError(
                exc.hresult,
                f"HNS refused a range of {number} ports: a range comes from the host's dynamic "
                "port range (by default 49152-65535, 16384 ports), so ask for fewer",
                operation=_RESERVE_RANGE,
                subject=self._subject,
                document=exc.document,
            ) from exc
        return PortReservation(
            result.handle, int(ports.startingPort), int(ports.endingPort), service=self.id
        )

    def notifications(self) -> NotificationStream:
        """This service's notifications (``HcnRegisterGuestNetworkServiceCallback``).

        Used as :func:`aiohcs.hcn.notifications` is (``async with ... as events``); the
        stream ends when this object is closed.
        """
        with self._held():  # (raises if closed)
            pass
        stream = NotificationStream(
            _register_callback,
            _unregister_callback,
            operation="HcnRegisterGuestNetworkServiceCallback",
            subject=self._subject,
            hold=self._held,
            on_close=self._streams.discard,
        )
        self._streams.add(stream)
        return stream

    async def _end_streams(self) -> None:
        for stream in list(self._streams):
            await stream.aclose()

    async def aclose(self) -> None:
        """End the notification streams, then close the handle (idempotent; off the loop)."""
        await self._end_streams()
        await super().aclose()
        # (one registered meanwhile, by an entry that held the handle until now)
        await self._end_streams()


async def create_guest_network_service(
    settings: Any = None, *, id: uuid.UUID | str | None = None
) -> GuestNetworkService:
    """Create a guest network service (``HcnCreateGuestNetworkService``) and open it.

    ``settings``: a model, a mapping or JSON text of an object (None: ``{}``); ``id``: its
    GUID (a new one if None).
    """
    ident = uuid.uuid4() if id is None else uuid_from_any(id, "id")
    text = object_text(settings, argument="settings") if settings is not None else "{}"
    w_settings = to_wide(text)
    guid = guid_from(ident)

    def call(out: HcnOut) -> int:
        hr: int = lib.HcnCreateGuestNetworkService(guid, w_settings, out.handle, out.error_record)
        return hr

    result = await hcn_call(
        "HcnCreateGuestNetworkService", call, subject=_KIND.subject(ident), close=_CLOSE_SERVICE
    )
    return GuestNetworkService._adopt(result.handle, ident)


async def delete_guest_network_service(id: uuid.UUID | str) -> None:
    """Delete the guest network service ``id`` (``HcnDeleteGuestNetworkService``)."""
    await delete(_KIND, id)
