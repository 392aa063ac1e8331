"""Typed HCS events and the per-handle event hub.

HCS delivers events to the callback registered on a handle (compute system or process).
The bridge queues them per event loop; the handle's :class:`EventHub` turns each into a
typed :class:`Event` and fans it out to every open :class:`EventStream` (each iterator gets
every event from its subscription on, in order, without loss: buffers are unbounded).

Terminal events (:class:`SystemExited` for systems, :class:`ProcessExited` for processes,
:class:`ServiceDisconnectedEvent` for both) are never dropped: they end every iterator (after
being yielded), are remembered by the hub (so ``wait()`` works with or without an
iterator, and a stream opened later yields the terminal event and ends), and whatever HCS
sends after them is ignored. Closing the handle ends every iterator too.
"""

from __future__ import annotations

import enum
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Final

import anyio
import anyio.abc
import anyio.lowlevel

from aiohcs import _json
from aiohcs.errors import HResultValue

if TYPE_CHECKING:
    from aiohcs._bridge import Item, LoopBridge
    from aiohcs.schema import CrashReport, ProcessStatus, SystemExitStatus

__all__ = [
    "Event",
    "EventHub",
    "EventStream",
    "EventType",
    "LiveMigrationEvent",
    "OperationProgress",
    "ProcessExited",
    "ServiceDisconnectedEvent",
    "SystemCrashInitiated",
    "SystemCrashReport",
    "SystemExited",
    "SystemGuestConnectionClosed",
    "SystemRdpEnhancedModeStateChanged",
    "SystemSiloJobCreated",
    "UnknownEvent",
    "VmLifecycleEvent",
    "decode_event",
]


class EventType(enum.IntEnum):
    """HCS_EVENT_TYPE values (the event type is an open 32-bit unsigned integer)."""

    INVALID = 0x00000000
    SYSTEM_EXITED = 0x00000001
    SYSTEM_CRASH_INITIATED = 0x00000002
    SYSTEM_CRASH_REPORT = 0x00000003
    SYSTEM_RDP_ENHANCED_MODE_STATE_CHANGED = 0x00000004
    SYSTEM_SILO_JOB_CREATED = 0x00000005
    SYSTEM_GUEST_CONNECTION_CLOSED = 0x00000006
    PROCESS_EXITED = 0x00010000
    OPERATION_CALLBACK = 0x01000000
    SERVICE_DISCONNECT = 0x02000000
    #: Newer SDK (see OPTIONAL_EXPORTS): a VM's state changed (HcsEventOptionEnableVmLifecycle).
    GROUP_VM_LIFECYCLE = 0x80000002
    #: Newer SDK: a live-migration notification (HcsEventOptionEnableLiveMigrationEvents).
    GROUP_LIVE_MIGRATION = 0x80000003
    #: Newer SDK: progress of an operation made with HcsOperationOptionProgressUpdate.
    GROUP_OPERATION_INFO = 0xC0000001


def _parse(raw: str | None) -> Any:
    return _json.read_lenient(raw)


@dataclass(frozen=True)
class Event:
    """An event HCS delivered on a handle.

    ``type`` is the raw HCS_EVENT_TYPE, ``raw`` the EventData text as HCS sent it (None
    when it sent none), ``data`` that text parsed as JSON (None if absent or not JSON).
    ``synthesized`` is True for the rare exit aiohcs derives from a properties query
    (an exit that happened before the callback could be registered): its payload is
    made by aiohcs, not sent by HCS (see :class:`SystemExited`). ``timestamp_ns`` is
    when HCS invoked the callback (``aiohcs_now_ns()`` monotonic clock; None if synthesized).
    """

    type: int
    raw: str | None = None
    data: Any = field(default=None, compare=False)
    synthesized: bool = False
    timestamp_ns: int | None = field(default=None, compare=False, repr=False)

    #: The HCS_EVENT_TYPE of this class (None for UnknownEvent).
    TYPE: ClassVar[int | None] = None
    #: True for events after which the handle delivers nothing more.
    TERMINAL: ClassVar[bool] = False
    #: The HCS schema type of the payload (``aiohcs.schema`` model name), if documented.
    PAYLOAD_TYPE: ClassVar[str | None] = None

    def payload_model(self) -> Any:
        """The payload validated as its :mod:`aiohcs.schema` model (None without payload).

        Raises ``TypeError`` for events whose payload has no documented schema type, and
        pydantic's ``ValidationError`` if HCS sent something that does not fit.
        """
        if self.PAYLOAD_TYPE is None:
            raise TypeError(f"{type(self).__name__} has no documented payload type")
        if self.data is None:
            return None
        from aiohcs import schema

        return schema.get_type(self.PAYLOAD_TYPE).model_validate(self.data)

    @property
    def payload(self) -> Any:
        """The payload as plain parsed JSON (same as ``data``; ``raw`` is the text)."""
        return self.data

    def _model(self) -> Any:
        if self.PAYLOAD_TYPE is None or self.data is None:
            return None
        from aiohcs._documents import parse_data

        return parse_data(self.data, self.PAYLOAD_TYPE)

    def _field(self, name: str) -> Any:
        return self.data.get(name) if isinstance(self.data, dict) else None

    def __repr__(self) -> str:
        extra = f", data={self.data!r}" if self.data is not None else ""
        return f"{type(self).__name__}(type=0x{self.type:X}{extra})"


@dataclass(frozen=True, repr=False)
class SystemExited(Event):
    """The compute system stopped (HcsEventSystemExited). Payload: SystemExitStatus.

    A ``synthesized`` one (the exit happened before the event callback was registered and
    was found by a properties query) does not know HCS's real exit status: its payload is
    ``{"Status": 0, "ExitType": <the properties' ExitType>}`` whatever really happened, so
    :attr:`hresult` is 0 and :attr:`attribution` empty even for a crash.
    """

    TYPE: ClassVar[int | None] = EventType.SYSTEM_EXITED
    TERMINAL: ClassVar[bool] = True
    PAYLOAD_TYPE: ClassVar[str | None] = "SystemExitStatus"

    @property
    def status(self) -> SystemExitStatus | None:
        """The payload as :class:`aiohcs.schema.SystemExitStatus` (None without payload)."""
        status: SystemExitStatus | None = self._model()
        return status

    @property
    def exit_type(self) -> str | None:
        """SystemExitStatus.ExitType: GracefulExit, ForcedExit, UnexpectedExit, ..."""
        value = self._field("ExitType")
        return value if isinstance(value, str) else None

    @property
    def hresult(self) -> int:
        """SystemExitStatus.Status as an unsigned HRESULT (0 when absent or malformed).

        An :class:`~aiohcs.errors.HResultValue`: it prints as ``0x8037xxxx``, like errors.
        A Status that is no 32-bit HRESULT (out of range, a bool, not a number) is not
        folded into one: it counts as absent (``data`` keeps it; ``status`` rejects it).
        """
        value = self._field("Status")
        if isinstance(value, bool) or not isinstance(value, int):
            return HResultValue(0)
        try:
            return HResultValue(value)
        except ValueError:  # (not a 32-bit number: masking it would invent a code)
            return HResultValue(0)

    @property
    def attribution(self) -> list[Any]:
        """SystemExitStatus.Attribution records (possibly empty)."""
        value = self._field("Attribution")
        return value if isinstance(value, list) else []


@dataclass(frozen=True, repr=False)
class _CrashEvent(Event):
    """The two crash events: their payload is a CrashReport."""

    PAYLOAD_TYPE: ClassVar[str | None] = "CrashReport"

    @property
    def report(self) -> CrashReport | None:
        """The payload as :class:`aiohcs.schema.CrashReport` (None without payload).

        (``raw`` is the text to hand to ``submit_wer_report``.)
        """
        report: CrashReport | None = self._model()
        return report


@dataclass(frozen=True, repr=False)
class SystemCrashInitiated(_CrashEvent):
    """The guest began to crash (HcsEventSystemCrashInitiated). Payload: CrashReport."""

    TYPE: ClassVar[int | None] = EventType.SYSTEM_CRASH_INITIATED


@dataclass(frozen=True, repr=False)
class SystemCrashReport(_CrashEvent):
    """The guest finished reporting a crash (HcsEventSystemCrashReport). Payload: CrashReport."""

    TYPE: ClassVar[int | None] = EventType.SYSTEM_CRASH_REPORT


@dataclass(frozen=True, repr=False)
class SystemRdpEnhancedModeStateChanged(Event):
    """Enhanced-mode RDP availability changed (no documented payload)."""

    TYPE: ClassVar[int | None] = EventType.SYSTEM_RDP_ENHANCED_MODE_STATE_CHANGED


@dataclass(frozen=True, repr=False)
class SystemSiloJobCreated(Event):
    """A silo job was created (reserved by HCS; no documented payload)."""

    TYPE: ClassVar[int | None] = EventType.SYSTEM_SILO_JOB_CREATED


@dataclass(frozen=True, repr=False)
class SystemGuestConnectionClosed(Event):
    """The guest connection closed, expected or not (no documented payload)."""

    TYPE: ClassVar[int | None] = EventType.SYSTEM_GUEST_CONNECTION_CLOSED


@dataclass(frozen=True, repr=False)
class ProcessExited(Event):
    """A process ended (HcsEventProcessExited, process handles only). Payload: ProcessStatus."""

    TYPE: ClassVar[int | None] = EventType.PROCESS_EXITED
    TERMINAL: ClassVar[bool] = True
    PAYLOAD_TYPE: ClassVar[str | None] = "ProcessStatus"

    @property
    def status(self) -> ProcessStatus | None:
        """The payload as :class:`aiohcs.schema.ProcessStatus` (None without payload)."""
        status: ProcessStatus | None = self._model()
        return status

    @property
    def exit_code(self) -> int | None:
        """ProcessStatus.ExitCode when meaningful (Exited and LastWaitResult == 0), else None."""
        if self._field("LastWaitResult") not in (None, 0):
            return None
        code = self._field("ExitCode")
        return code if isinstance(code, int) and not isinstance(code, bool) else None


@dataclass(frozen=True, repr=False)
class ServiceDisconnectedEvent(Event):
    """The connection to the HCS service was lost (HcsEventServiceDisconnect). Terminal.

    Exported as ``aiohcs.ServiceDisconnectedEvent``. Not to be confused with the exception
    raised for the same condition, :class:`aiohcs.errors.ServiceDisconnected` (which is
    what ``aiohcs.ServiceDisconnected`` is).
    """

    TYPE: ClassVar[int | None] = EventType.SERVICE_DISCONNECT
    TERMINAL: ClassVar[bool] = True


@dataclass(frozen=True, repr=False)
class VmLifecycleEvent(Event):
    """A VM's state changed (HcsEventGroupVmLifecycle; newer SDK).

    Delivered only to systems created or opened with ``lifecycle_events=True``, in order
    with the system's other events (a ``Stopped`` one before :class:`SystemExited`). No
    published schema describes the payload (hcsim sends ``{"State": "Running"}``, the
    State property's name): :attr:`state` and :attr:`previous_state` read its ``State``
    and ``PreviousState`` members (None when absent), ``data`` has all of it.
    """

    TYPE: ClassVar[int | None] = EventType.GROUP_VM_LIFECYCLE

    @property
    def state(self) -> str | None:
        """The state the VM is in now (``"Running"``, ``"Paused"``, ...), if given."""
        value = self._field("State")
        return value if isinstance(value, str) else None

    @property
    def previous_state(self) -> str | None:
        """The state the VM left, if given."""
        value = self._field("PreviousState")
        return value if isinstance(value, str) else None


@dataclass(frozen=True, repr=False)
class LiveMigrationEvent(Event):
    """A live-migration notification (HcsEventGroupLiveMigration; newer SDK).

    Payload: :class:`aiohcs.migration.OperationSystemMigrationNotificationInfo`
    (``Origin``, ``Event``, ``Result``, ``AdditionalDetails``). The accessors read the raw
    members (an empty payload, which HCS sometimes sends, gives None everywhere).
    """

    TYPE: ClassVar[int | None] = EventType.GROUP_LIVE_MIGRATION
    PAYLOAD_TYPE: ClassVar[str | None] = "OperationSystemMigrationNotificationInfo"

    def payload_model(self) -> Any:
        """The payload as :class:`aiohcs.migration.OperationSystemMigrationNotificationInfo`."""
        return self.info

    @property
    def info(self) -> Any:
        """The payload as :class:`~aiohcs.migration.OperationSystemMigrationNotificationInfo`.

        None without payload; pydantic's ``ValidationError`` if it does not fit.
        """
        if self.data is None:
            return None
        from aiohcs.migration import OperationSystemMigrationNotificationInfo

        return OperationSystemMigrationNotificationInfo.model_validate(self.data)

    @property
    def origin(self) -> str | None:
        """``"Source"`` or ``"Destination"``: the side the notification is about."""
        value = self._field("Origin")
        return value if isinstance(value, str) else None

    @property
    def event(self) -> str | None:
        """What happened (``"SetupDone"``, ``"MigrationDone"``, ``"MigrationFailed"``, ...)."""
        value = self._field("Event")
        return value if isinstance(value, str) else None

    @property
    def result(self) -> str | None:
        """How it ended (``"Success"``, ``"MigrationCancelled"``, ...), mostly on terminal ones."""
        value = self._field("Result")
        return value if isinstance(value, str) else None

    @property
    def details(self) -> Any:
        """``AdditionalDetails`` as parsed JSON (its shape depends on :attr:`event`)."""
        return self._field("AdditionalDetails")


@dataclass(frozen=True, repr=False)
class OperationProgress(Event):
    """Progress of an operation (HcsEventGroupOperationInfo; newer SDK).

    Yielded by :meth:`TrackedOperation.progress() <aiohcs.progress.TrackedOperation.progress>`.
    No published schema describes the payload (hcsim sends
    ``{"Operation": "Save", "Progress": {"PercentComplete": 25}}``): :attr:`percent` reads
    ``PercentComplete`` (or ``Percent``, ``Progress``; 0-100) at the top or inside a
    ``Progress`` object, :attr:`completed` / :attr:`total` read ``Completed`` / ``Total``
    (e.g. bytes) where the host sends them; ``data`` has everything.
    """

    TYPE: ClassVar[int | None] = EventType.GROUP_OPERATION_INFO

    def _number(self, *names: str) -> float | None:
        data = self.data
        if isinstance(data, dict) and isinstance(data.get("Progress"), dict):
            data = data["Progress"]
        if not isinstance(data, dict):
            return None
        for name in names:
            value = data.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
        return None

    @property
    def percent(self) -> float | None:
        """How far the operation is, in percent (None if the host did not say)."""
        percent = self._number("PercentComplete", "Percent", "Progress")
        if percent is None:
            done, total = self.completed, self.total
            if done is not None and total:
                percent = 100.0 * done / total
        return percent

    @property
    def operation(self) -> str | None:
        """The operation's type as the service names it (``"Save"``, ...), if given."""
        value = self._field("Operation")
        return value if isinstance(value, str) else None

    @property
    def completed(self) -> float | None:
        """Units of work done (``Completed``), if given."""
        return self._number("Completed", "CompletedUnits")

    @property
    def total(self) -> float | None:
        """Units of work in all (``Total``), if given."""
        return self._number("Total", "TotalUnits")


@dataclass(frozen=True, repr=False)
class UnknownEvent(Event):
    """An event type this version of aiohcs does not know (HCS_EVENT_TYPE is open)."""


_CLASSES: Final[dict[int, type[Event]]] = {
    cls.TYPE: cls
    for cls in (
        SystemExited,
        SystemCrashInitiated,
        SystemCrashReport,
        SystemRdpEnhancedModeStateChanged,
        SystemSiloJobCreated,
        SystemGuestConnectionClosed,
        ProcessExited,
        ServiceDisconnectedEvent,
        VmLifecycleEvent,
        LiveMigrationEvent,
        OperationProgress,
    )
    if cls.TYPE is not None
}


def decode_event(
    event_type: int,
    raw: str | None,
    *,
    synthesized: bool = False,
    timestamp_ns: int | None = None,
) -> Event:
    """Return the typed event for an HCS_EVENT_TYPE value and its EventData text."""
    cls = _CLASSES.get(event_type & 0xFFFFFFFF, UnknownEvent)
    return cls(event_type & 0xFFFFFFFF, raw, _parse(raw), synthesized, timestamp_ns)


class EventStream(anyio.abc.AsyncResource):
    """An async iterator over the events of one handle, from its subscription on.

    Created by ``system.events()`` (subscribed at once, so events that happen between the
    call and the first ``__anext__`` are kept). Ends after the terminal event or when the
    handle is closed. Use ``async with`` or :meth:`aclose` to unsubscribe early; a stream
    that is no longer referenced unsubscribes itself.

    One stream may be consumed by several tasks at once, like a receive stream shared by
    workers: each event goes to exactly one of them (in the order HCS delivered them), and
    when the stream ends (terminal event, close of the handle or :meth:`aclose`) every
    waiting task is woken — the terminal event is yielded to one of them and the others
    stop iterating; none is left waiting. A task cancelled while waiting passes on the
    event it was woken for, so nothing is lost. For every task to see every event, give
    each its own stream (call ``events()`` once per task).
    """

    __slots__ = ("__weakref__", "_buffer", "_ended", "_hub", "_waiters")

    def __init__(self, hub: EventHub | None) -> None:
        self._hub = hub
        self._buffer: deque[Event] = deque()
        self._ended = False
        # The tasks waiting in __anext__, first come first woken (one per event).
        self._waiters: deque[anyio.Event] = deque()

    def _wake_one(self) -> None:
        # A waiter leaves the queue when woken or cancelled, so the first one is waiting.
        if self._waiters:
            self._waiters.popleft().set()

    def _push(self, event: Event) -> None:
        self._buffer.append(event)
        self._wake_one()

    def _end(self) -> None:
        self._ended = True
        self._hub = None
        waiters, self._waiters = self._waiters, deque()
        for waiter in waiters:
            waiter.set()

    @property
    def pending(self) -> int:
        """Events received and not yet taken from this stream."""
        return len(self._buffer)

    @property
    def waiting(self) -> int:
        """Tasks currently waiting in ``__anext__`` for an event of this stream."""
        return len(self._waiters)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        while True:
            if self._buffer:
                try:
                    await anyio.lowlevel.checkpoint_if_cancelled()
                except BaseException:
                    self._wake_one()  # the event stays for another consumer
                    raise
                if self._buffer:  # (another consumer may have taken it meanwhile)
                    return self._buffer.popleft()
                continue
            if self._ended:
                await anyio.lowlevel.checkpoint()
                raise StopAsyncIteration
            if self._hub is not None:
                self._hub.bridge.check_usable()
            waiter = anyio.Event()
            self._waiters.append(waiter)
            try:
                await waiter.wait()
            except BaseException:
                if waiter.is_set():
                    # Woken for an event this task will not take: hand it on.
                    if self._buffer:
                        self._wake_one()
                else:
                    self._waiters.remove(waiter)
                raise

    async def aclose(self) -> None:
        """Unsubscribe; the stream then ends (buffered events are discarded)."""
        hub = self._hub
        if hub is not None:
            hub._subscribers.discard(self)
        self._buffer.clear()
        self._end()
        await anyio.lowlevel.checkpoint()


class EventHub:
    """The event registration of one HCS handle: its bridge id, subscribers and terminal event.

    Shared by compute systems and processes. Holds no reference to the object that owns it,
    so an owner that is dropped without being closed can still be garbage-collected.
    """

    __slots__ = ("_subscribers", "_terminal_waiter", "bridge", "closed", "id", "terminal")

    def __init__(self, bridge: LoopBridge) -> None:
        self.bridge = bridge
        self._subscribers: weakref.WeakSet[EventStream] = weakref.WeakSet()
        self.terminal: Event | None = None
        self.closed = False
        self._terminal_waiter: anyio.Event | None = None
        self.id: int = bridge.register(self)

    # ---------------------------------------------------------------- bridge side

    def _deliver(self, item: Item) -> None:
        # (item.payload_lost: out of memory in the callback; the event is kept without
        # its payload rather than dropped.)
        self.publish(decode_event(item.event_type, item.payload, timestamp_ns=item.timestamp_ns))

    def _bridge_closed(self) -> None:
        self.close()

    def _after_fork(self) -> None:
        # A forked child: the waiting tasks belong to the parent's loop; never wake them.
        self._terminal_waiter = None
        for stream in list(self._subscribers):
            stream._waiters.clear()

    # ---------------------------------------------------------------- owner side

    def publish(self, event: Event) -> None:
        """Fan ``event`` out to every subscriber (ignored after the terminal event or close)."""
        if self.terminal is not None or self.closed:
            return
        for stream in list(self._subscribers):
            stream._push(event)
        if event.TERMINAL:
            self.terminal = event
            self._end_all()

    def subscribe(self) -> EventStream:
        """Return a new stream that receives every event from now on."""
        self.bridge.check_usable()
        if self.terminal is not None:
            stream = EventStream(None)
            stream._push(self.terminal)
            stream._end()
        elif self.closed:
            stream = EventStream(None)
            stream._end()
        else:
            stream = EventStream(self)
            self._subscribers.add(stream)
        return stream

    async def wait(self) -> Event | None:
        """Wait for the terminal event; None if the hub was closed before one arrived."""
        self.bridge.check_usable()
        while self.terminal is None and not self.closed:
            if self._terminal_waiter is None:
                self._terminal_waiter = anyio.Event()
            await self._terminal_waiter.wait()
        await anyio.lowlevel.checkpoint_if_cancelled()
        return self.terminal

    def close(self) -> None:
        """End every stream and wake every waiter. The id stays registered (see unregister)."""
        if self.closed:
            return
        self.closed = True
        self._end_all()

    def unregister(self) -> None:
        """Forget the bridge id (after the HCS handle is closed: no callback can follow)."""
        self.close()
        self.bridge.unregister(self.id)

    def unregister_detached(self) -> None:
        """:meth:`unregister` for a finalizer, on any thread.

        The id is forgotten at once; the streams end (their tasks wake) on the loop's thread.
        """
        self.bridge.unregister(self.id)
        self.bridge.call_soon_threadsafe(self.close)

    def _end_all(self) -> None:
        subscribers = list(self._subscribers)
        self._subscribers = weakref.WeakSet()
        for stream in subscribers:
            stream._end()
        waiter = self._terminal_waiter
        if waiter is not None:
            self._terminal_waiter = None
            waiter.set()
