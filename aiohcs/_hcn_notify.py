"""HCN notifications: the service callback as an async iterator of typed notifications.

``HcnRegisterServiceCallback`` (and ``HcnRegisterGuestNetworkServiceCallback`` for one guest
network service) hands every notification to the bridge's C callback
(``aiohcs_hcn_notification_callback``, ARCHITECTURE.md invariants 1 and 2): the context is
a registration id, NotificationData is copied there, and one event item goes to the queue of
the loop that registered the id. On the loop the id's :class:`~aiohcs.events.EventHub`
decodes the item into a :class:`Notification` and hands it to the registration's one
:class:`~aiohcs.events.EventStream` (unbounded: nothing is dropped while it is open).

Each :class:`NotificationStream` is one registration with HCN: several streams at once each
get every notification. The register and unregister calls are blocking (the unregister
waits for callbacks in flight) and run in worker threads, to their end whatever cancels the
caller; a registration made by a cancelled ``__aenter__`` is undone before the cancellation
is raised, so nothing stays registered. :class:`ServiceDisconnected` is terminal: it ends the
iterator.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Final

import anyio.abc
import anyio.lowlevel

from aiohcs import _json
from aiohcs._bridge import current_backend, current_bridge, run_detached, run_sync
from aiohcs._host_calls import admit
from aiohcs._native import ffi, lib, require_export
from aiohcs._unclosed import finalize_unclosed
from aiohcs.errors import HandleClosedError, HResultValue, hcn_error_from_hresult
from aiohcs.events import Event, EventHub, EventStream

if TYPE_CHECKING:
    from aiohcs._bridge import Item

__all__ = [
    "EndpointAttached",
    "EndpointDetached",
    "GuestNetworkServiceCreated",
    "GuestNetworkServiceDeleted",
    "GuestNetworkServiceInterfaceStateChanged",
    "GuestNetworkServiceStateChanged",
    "NamespaceCreated",
    "NamespaceDeleted",
    "NetworkCreated",
    "NetworkDeleted",
    "NetworkPreCreate",
    "NetworkPreDelete",
    "Notification",
    "NotificationStream",
    "NotificationType",
    "ServiceDisconnected",
    "notifications",
]


class NotificationType(enum.IntEnum):
    """HCN_NOTIFICATIONS values; open: any other 32-bit value gives a pseudo-member."""

    INVALID = 0x00000000
    NETWORK_PRE_CREATE = 0x00000001
    NETWORK_CREATE = 0x00000002
    NETWORK_PRE_DELETE = 0x00000003
    NETWORK_DELETE = 0x00000004
    NAMESPACE_CREATE = 0x00000005
    NAMESPACE_DELETE = 0x00000006
    GUEST_NETWORK_SERVICE_CREATE = 0x00000007
    GUEST_NETWORK_SERVICE_DELETE = 0x00000008
    NETWORK_ENDPOINT_ATTACHED = 0x00000009
    # (0x10, not 0x0A: the header's value)
    NETWORK_ENDPOINT_DETACHED = 0x00000010
    GUEST_NETWORK_SERVICE_STATE_CHANGED = 0x00000011
    GUEST_NETWORK_SERVICE_INTERFACE_STATE_CHANGED = 0x00000012
    SERVICE_DISCONNECT = 0x01000000
    FLAGS_RESERVED = 0xF0000000

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            return None
        if not 0 <= value <= 0xFFFFFFFF:
            return None
        pseudo = int.__new__(cls, value)
        pseudo._name_ = f"UNKNOWN_0x{value:X}"
        pseudo._value_ = value
        return pseudo

    @property
    def known(self) -> bool:
        """Whether the header lists this value."""
        return self._value_ in type(self)._value2member_map_


def _guid(value: object) -> uuid.UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value.strip().strip("{}"))
    except ValueError:
        return None


@dataclass(frozen=True, repr=False)
class Notification(Event):
    """A notification of the HCN service (an :class:`~aiohcs.events.Event`).

    ``type`` is the :class:`NotificationType`, ``status`` the NotificationStatus HRESULT
    (0 unless the notification reports a failure), ``id`` the ``ID`` member of the data
    (the network, namespace, endpoint or guest network service; None if absent or not a
    GUID), ``data`` the data parsed as a JSON object (None if absent or not one) and
    ``raw`` its text. Notifications of types this version does not know are of this class.
    """

    type: NotificationType = NotificationType.INVALID
    status: int = field(default=HResultValue(0))
    id: uuid.UUID | None = None

    #: The HCN_NOTIFICATIONS value of this class (None for the base class).
    TYPE: ClassVar[int | None] = None

    @property
    def ok(self) -> bool:
        """True unless ``status`` is a failure HRESULT."""
        return self.status < 0x80000000

    def __repr__(self) -> str:
        name = self.type.name if self.type.known else f"0x{self.type:X}"
        extra = f", id={self.id}" if self.id is not None else ""
        extra += f", status=0x{self.status:08X}" if self.status else ""
        return f"{type(self).__name__}(type={name}{extra})"


@dataclass(frozen=True, repr=False)
class NetworkPreCreate(Notification):
    """A network is about to be created (``id``: the network)."""

    TYPE: ClassVar[int | None] = NotificationType.NETWORK_PRE_CREATE


@dataclass(frozen=True, repr=False)
class NetworkCreated(Notification):
    """A network was created (``id``: the network)."""

    TYPE: ClassVar[int | None] = NotificationType.NETWORK_CREATE


@dataclass(frozen=True, repr=False)
class NetworkPreDelete(Notification):
    """A network is about to be deleted (``id``: the network)."""

    TYPE: ClassVar[int | None] = NotificationType.NETWORK_PRE_DELETE


@dataclass(frozen=True, repr=False)
class NetworkDeleted(Notification):
    """A network was deleted (``id``: the network)."""

    TYPE: ClassVar[int | None] = NotificationType.NETWORK_DELETE


@dataclass(frozen=True, repr=False)
class NamespaceCreated(Notification):
    """A namespace was created (``id``: the namespace)."""

    TYPE: ClassVar[int | None] = NotificationType.NAMESPACE_CREATE


@dataclass(frozen=True, repr=False)
class NamespaceDeleted(Notification):
    """A namespace was deleted (``id``: the namespace)."""

    TYPE: ClassVar[int | None] = NotificationType.NAMESPACE_DELETE


@dataclass(frozen=True, repr=False)
class GuestNetworkServiceCreated(Notification):
    """A guest network service was created (``id``: the service)."""

    TYPE: ClassVar[int | None] = NotificationType.GUEST_NETWORK_SERVICE_CREATE


@dataclass(frozen=True, repr=False)
class GuestNetworkServiceDeleted(Notification):
    """A guest network service was deleted (``id``: the service)."""

    TYPE: ClassVar[int | None] = NotificationType.GUEST_NETWORK_SERVICE_DELETE


@dataclass(frozen=True, repr=False)
class GuestNetworkServiceStateChanged(Notification):
    """A guest network service's state changed (``id``: the service).

    No published schema describes the data; :attr:`state` reads its ``State`` member.
    """

    TYPE: ClassVar[int | None] = NotificationType.GUEST_NETWORK_SERVICE_STATE_CHANGED

    @property
    def state(self) -> str | None:
        """The data's ``State`` (None if absent)."""
        value = self._field("State")
        return value if isinstance(value, str) else None


@dataclass(frozen=True, repr=False)
class GuestNetworkServiceInterfaceStateChanged(Notification):
    """An interface of a guest network service changed state (``id``: the service)."""

    TYPE: ClassVar[int | None] = NotificationType.GUEST_NETWORK_SERVICE_INTERFACE_STATE_CHANGED


@dataclass(frozen=True, repr=False)
class _EndpointNotification(Notification):
    @property
    def network_id(self) -> uuid.UUID | None:
        """The network of the endpoint (the data's ``NetworkId``; None if absent)."""
        return _guid(self._field("NetworkId"))


@dataclass(frozen=True, repr=False)
class EndpointAttached(_EndpointNotification):
    """An endpoint was attached to a network (``id``: the endpoint; :attr:`network_id`).

    When HNS sends it is not documented publicly; hcsim sends it when an endpoint is
    created on a network, an interpretation of the name (no public source).
    """

    TYPE: ClassVar[int | None] = NotificationType.NETWORK_ENDPOINT_ATTACHED


@dataclass(frozen=True, repr=False)
class EndpointDetached(_EndpointNotification):
    """An endpoint was detached from a network (``id``: the endpoint; :attr:`network_id`).

    When HNS sends it is not documented publicly; hcsim sends it when an endpoint is
    deleted from a network, an interpretation of the name (no public source).
    """

    TYPE: ClassVar[int | None] = NotificationType.NETWORK_ENDPOINT_DETACHED


@dataclass(frozen=True, repr=False)
class ServiceDisconnected(Notification):
    """The connection to the HCN service was lost. Terminal: it ends the iterator.

    (The notification, not the exception :class:`aiohcs.errors.ServiceDisconnected`.)
    """

    TYPE: ClassVar[int | None] = NotificationType.SERVICE_DISCONNECT
    TERMINAL: ClassVar[bool] = True


_CLASSES: Final[dict[int, type[Notification]]] = {
    cls.TYPE: cls
    for cls in (
        NetworkPreCreate,
        NetworkCreated,
        NetworkPreDelete,
        NetworkDeleted,
        NamespaceCreated,
        NamespaceDeleted,
        GuestNetworkServiceCreated,
        GuestNetworkServiceDeleted,
        GuestNetworkServiceStateChanged,
        GuestNetworkServiceInterfaceStateChanged,
        EndpointAttached,
        EndpointDetached,
        ServiceDisconnected,
    )
    if cls.TYPE is not None
}


def decode_notification(
    notification_type: int,
    raw: str | None,
    status: int = 0,
    *,
    timestamp_ns: int | None = None,
) -> Notification:
    """Return the typed notification for a NotificationType, its data text and status."""
    kind = NotificationType(notification_type & 0xFFFFFFFF)
    cls = _CLASSES.get(kind, Notification)
    data = _json.read_object(raw)
    ident = _guid(data.get("ID")) if data is not None else None
    return cls(
        type=kind,
        raw=raw,
        data=data,
        timestamp_ns=timestamp_ns,
        status=HResultValue(status & 0xFFFFFFFF),
        id=ident,
    )


class _NotificationHub(EventHub):
    """An :class:`EventHub` whose items are HCN notifications."""

    __slots__ = ()

    def _deliver(self, item: Item) -> None:
        self.publish(
            decode_notification(
                item.event_type, item.payload, item.result, timestamp_ns=item.timestamp_ns
            )
        )


#: ``register(target, context) -> (HRESULT, HCN_CALLBACK)`` (``target``: what ``hold``
#: gave, or None) and ``unregister(HCN_CALLBACK) -> HRESULT``.
Register = Callable[[Any, Any], "tuple[int, Any]"]
Unregister = Callable[[Any], int]
#: Holds what the registration is made on (a guest network service's handle) meanwhile.
Hold = Callable[[], AbstractContextManager[Any]]


def _register_service(target: Any, context: Any) -> tuple[int, Any]:
    del target  # (the service callback is registered on nothing)
    out = ffi.new("HCN_CALLBACK *")
    hr: int = lib.HcnRegisterServiceCallback(lib.aiohcs_hcn_notification_callback, context, out)
    return hr, out[0]


def _unregister_service(handle: Any) -> int:
    hr: int = lib.HcnUnregisterServiceCallback(handle)
    return hr


class NotificationStream(anyio.abc.AsyncResource):
    """One registration of the HCN notification callback, as an async iterator.

    Made by :func:`notifications` (or ``GuestNetworkService.notifications()``); use it as
    ``async with ... as events: async for event in events``. Registered on entry (in a
    worker thread), unregistered by :meth:`aclose` / the exit of the ``async with``, which
    ends the iteration; :class:`ServiceDisconnected` ends it too. Every notification from
    the registration on is kept until it is taken (nothing is dropped).
    """

    def __init__(
        self,
        register: Register,
        unregister: Unregister,
        *,
        operation: str,
        subject: str | None = None,
        hold: Hold | None = None,
        on_close: Callable[[NotificationStream], None] | None = None,
    ) -> None:
        self._register = register
        self._unregister = unregister
        self._operation = operation
        self._subject = subject
        self._hold = hold
        self._on_close = on_close
        self._hub: _NotificationHub | None = None
        self._stream: EventStream | None = None
        self._handle: Any = None
        self._entered = False
        self._closed = False

    @property
    def registered(self) -> bool:
        """Whether the callback is registered with HCN now."""
        return self._handle is not None

    async def __aenter__(self) -> NotificationStream:
        if self._entered:
            raise RuntimeError("a NotificationStream can be entered only once")
        self._entered = True
        if self._closed:
            raise self._closed_error()
        await admit()
        require_export(self._operation)
        if self._closed:  # (closed meanwhile: by the close of its guest network service)
            raise self._closed_error()
        bridge = current_bridge()
        hub = _NotificationHub(bridge)
        self._hub = hub
        self._stream = hub.subscribe()
        context = ffi.cast("void *", hub.id)
        register = self._register

        try:
            with self._hold() if self._hold is not None else nullcontext() as target:

                async def register_off_loop() -> tuple[int, Any]:
                    return await run_sync(register, target, context)

                (hr, handle), cancelled = await current_backend().run_shielded(register_off_loop)
        except BaseException:
            self._drop()
            raise
        if hr < 0:
            self._drop()
            if cancelled is not None:
                raise cancelled
            raise hcn_error_from_hresult(hr, call=self._operation, subject=self._subject)
        self._handle = handle
        try:
            if cancelled is not None:
                raise cancelled
            if self._closed:  # (closed while it registered: undone at once)
                raise self._closed_error()
            await anyio.lowlevel.checkpoint_if_cancelled()
        except BaseException:
            await self.aclose()  # (shielded: it runs to its end)
            raise
        return self

    def _closed_error(self) -> HandleClosedError:
        what = f" of the {self._subject}" if self._subject else ""
        return HandleClosedError(message=f"the notification stream{what} was closed")

    def __aiter__(self) -> NotificationStream:
        return self

    async def __anext__(self) -> Notification:
        stream = self._stream
        if stream is None:
            if not self._entered:
                raise RuntimeError("use 'async with hcn.notifications() as events' first")
            raise StopAsyncIteration
        event = await stream.__anext__()
        assert isinstance(event, Notification)
        return event

    async def aclose(self) -> None:
        """Unregister (waits for callbacks in flight, off the loop) and end the iteration.

        Runs to its end whatever cancels the caller; that cancellation is raised after.
        """
        handle, self._handle = self._handle, None
        if handle is not None:
            unregister = self._unregister

            async def unregister_off_loop() -> int:
                return await run_sync(unregister, handle)

            try:
                _, cancelled = await current_backend().run_shielded(unregister_off_loop)
            finally:
                self._drop()
            if cancelled is not None:
                raise cancelled
        else:
            self._drop()
            await anyio.lowlevel.checkpoint()

    def _drop(self) -> None:
        """Forget the bridge id and end the stream (the HCN registration is gone)."""
        hub, self._hub = self._hub, None
        self._stream = None
        if hub is not None:
            hub.unregister()
        if not self._closed:
            self._closed = True
            if self._on_close is not None:
                self._on_close(self)

    def __del__(self) -> None:
        handle = self._handle
        if handle is None:
            return
        self._handle = None
        hub = self._hub
        unregister = self._unregister

        def close() -> None:
            run_detached(unregister, handle)
            if hub is not None:
                hub.unregister_detached()

        finalize_unclosed(self, "an HCN notification stream", close)


def notifications() -> NotificationStream:
    """The HCN service's notifications: ``async with hcn.notifications() as events``.

    Each call is its own registration (``HcnRegisterServiceCallback``): every open stream
    gets every notification from its ``async with`` on, typed (:class:`NetworkCreated`,
    :class:`EndpointAttached`, ...; :class:`Notification` for types this version does not
    know), in the order the service sent them. :class:`ServiceDisconnected` ends the
    iteration; so does leaving the ``async with``, which unregisters.
    """
    return NotificationStream(
        _register_service,
        _unregister_service,
        operation="HcnRegisterServiceCallback",
        subject="the HCN service",
    )
