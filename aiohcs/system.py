"""Compute systems (Hyper-V VMs and Windows/Linux containers).

A :class:`ComputeSystem` wraps one ``HCS_SYSTEM`` handle. It belongs to the event loop that
created or opened it (its events are queued for that loop). Every lifecycle call is an HCS
operation awaited through the callback bridge (no thread per call); calls whose synchronous
part can take long run off the loop: create, open and close on the bridge's C threads (which
never take the GIL), enumerate in a worker thread.

Events: the handle's event callback is registered before anything can happen — atomically
at create through ``HcsCreateComputeSystemInNamespace`` with ``HCS_CREATE_OPTIONS_1`` where
the host has it; otherwise right after ``HcsCreateComputeSystem``/``HcsOpenComputeSystem``,
followed by a properties query so that an exit in that window is not missed (it is then
reported as a synthesized :class:`~aiohcs.events.SystemExited`; HCS's real exit status is
lost then: such an exit says ``Status`` 0 and the ``ExitType`` the properties give,
whatever really happened).

Closing (``aclose()`` / ``async with``): new calls fail at once with
:class:`~aiohcs.operation.HandleClosedError`; tasks waiting on in-flight operations, on
``wait()`` or on event iterators are released (operations with ``HandleClosedError``,
iterators end); then ``HcsCloseComputeSystem`` runs on a bridge thread and the ids are
dropped. Closing never stops the system (unless its configuration sets
``ShouldTerminateOnLastHandleClosed``).

A system that is garbage-collected without being closed emits ``ResourceWarning``; its
finalizer stops its events at once and has a bridge thread close the handle (never the
thread running the finalizer, which is often the loop's). At interpreter shutdown the handle
is left to the OS.

Cancellation of any call abandons the wait, not the work: see :mod:`aiohcs.operation` for
the states a system may be in afterwards. A cancelled ``create()`` closes the handle it got;
the system itself may still come into existence (open it by id, or use
``ShouldTerminateOnLastHandleClosed`` so that it goes away with the handle).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final

import anyio

from aiohcs._args import check_name, check_namespace, check_path
from aiohcs._bridge import CALL_CREATE_SYSTEM, CALL_CREATE_SYSTEM_PLAIN, current_bridge
from aiohcs._documents import (
    document_text,
    parse_document,
    parse_model,
    parse_model_list,
)
from aiohcs._handle import SYSTEM, HandleKind, HandleOwner, PendingHandle
from aiohcs._lifecycle import LIFECYCLE_CALLS, options_text
from aiohcs._native import export_available, ffi, lib, require_export, to_wide
from aiohcs._process_options import (
    DRAIN_TIMEOUT,
    PIPE,
    Command,
    GuestOs,
    OpenProcessOptions,
    ProcessOptions,
)
from aiohcs.errors import (
    HcsError,
    HResult,
    InvalidArgumentTypeError,
    InvalidDocumentError,
)
from aiohcs.events import Event, EventStream, SystemExited
from aiohcs.operation import HandleClosedError, NativeStart, run_operation
from aiohcs.process import Process, open_process, run_process, stream_process
from aiohcs.progress import TrackedCalls

if TYPE_CHECKING:
    import uuid

    import anyio.abc
    from typing_extensions import Unpack

    from aiohcs._bridge import LoopBridge
    from aiohcs._migrate import Transport
    from aiohcs.schema import Properties, SystemExitStatus

__all__ = [
    "EVENTS_EXPORT",
    "MIGRATION_EVENTS_EXPORT",
    "ComputeSystem",
    "HandleClosedError",
    "enumerate_systems",
]

#: An export of the Windows release that brought VM lifecycle events (HcsEventGroupVmLifecycle)
#: and operation progress: a host without it has neither.
EVENTS_EXPORT: Final = "HcsCreateOperationWithNotifications"
#: An export of the Windows release that brought live migration (and its events).
MIGRATION_EVENTS_EXPORT: Final = "HcsInitializeLiveMigrationOnSource"
# HcsEventOptionEnableVmLifecycle / HcsEventOptionEnableLiveMigrationEvents (computedefs.h
# of the newer SDKs; spelled out so that no newer declaration is needed to import this).
_EVENT_OPTION_VM_LIFECYCLE: Final = 0x2
_EVENT_OPTION_LIVE_MIGRATION: Final = 0x4

# What a host that refuses a NULL namespace would return.
_BAD_ARGUMENT: Final = frozenset({HResult.E_INVALIDARG, HResult.E_POINTER})


class ComputeSystem(HandleOwner):
    """One HCS compute system handle: :meth:`create`, :meth:`open` or :meth:`restore` one."""

    __slots__ = ("_id", "_namespace")

    _KIND: ClassVar[HandleKind] = SYSTEM

    def __init__(self, *, _id: str, _namespace: str | None, _pending: PendingHandle) -> None:
        """(Internal: use :meth:`create`, :meth:`open` or :meth:`restore`.)"""
        super().__init__(_pending, f"compute system {_id!r}", {"system_id": _id})
        self._id = _id
        self._namespace = _namespace

    # ---------------------------------------------------------------- construction

    @classmethod
    async def create(
        cls,
        id: str,
        config: Any,
        *,
        namespace: str | None = None,
        lifecycle_events: bool = False,
    ) -> ComputeSystem:
        """Create compute system ``id`` from ``config`` (model, dict or JSON text).

        ``config`` is validated as :class:`aiohcs.schema.ComputeSystem` first (a bad member
        raises :class:`~aiohcs.errors.InvalidDocumentError`; unknown members are kept).
        The system starts in state ``Created``; call :meth:`start`. ``namespace`` needs
        Windows 10 2004 / Windows Server 2004 or later. ``lifecycle_events=True`` has
        :meth:`events` yield :class:`~aiohcs.events.VmLifecycleEvent` on every state change
        of a VM (a newer Windows release: see :data:`~aiohcs.system.EVENTS_EXPORT`).
        """
        check_name(id, "id")
        check_namespace(namespace)
        if config is None:
            raise InvalidArgumentTypeError("config must not be None")
        event_options = _event_options(lifecycle_events)
        bridge = current_bridge()
        await bridge.admit()
        document = document_text(config, "ComputeSystem", argument="config")
        assert document is not None
        with_options = export_available("HcsCreateComputeSystemInNamespace")
        if namespace is not None and not with_options:
            require_export("HcsCreateComputeSystemInNamespace")
        try:
            pending = await _create_handle(
                bridge, id, document, namespace, with_options, event_options
            )
        except HcsError as exc:
            # The default namespace is passed as NULL. Should a host refuse that, fall
            # back to HcsCreateComputeSystem + HcsSetComputeSystemCallback.
            if not (with_options and namespace is None and exc.hresult in _BAD_ARGUMENT):
                raise
            with_options = False
            pending = await _create_handle(bridge, id, document, None, False, event_options)
        system = cls(_id=id, _namespace=namespace, _pending=pending)
        if not with_options:
            await system._check_missed_exit()
        return system

    @classmethod
    async def open(
        cls, id: str, *, namespace: str | None = None, lifecycle_events: bool = False
    ) -> ComputeSystem:
        """Open a new handle to the existing compute system ``id``.

        Raises :class:`~aiohcs.errors.SystemNotFound` if there is none.
        ``lifecycle_events``: as for :meth:`create`.
        """
        check_name(id, "id")
        if check_namespace(namespace) is not None:
            require_export("HcsOpenComputeSystemInNamespace")
        event_options = _event_options(lifecycle_events)
        async with PendingHandle(SYSTEM, current_bridge()) as pending:
            lib.aiohcs_set_event_options(pending.hub.id, event_options)
            await pending.open_native((to_wide(id), ffi.NULL, to_wide(namespace)), system_id=id)
        system = cls(_id=id, _namespace=namespace, _pending=pending)
        await system._check_missed_exit()
        return system

    @classmethod
    async def restore(
        cls,
        id: str,
        config: Any,
        state_file: str | os.PathLike[str],
        *,
        namespace: str | None = None,
        lifecycle_events: bool = False,
    ) -> ComputeSystem:
        """Create ``id`` restoring ``state_file``, then start it.

        ``config`` gets ``VirtualMachine.RestoreState.SaveStateFilePath = state_file`` (a
        file written by ``save(path)``); HCS restores the state during start. The new VM
        must have been granted ``state_file`` first (:func:`aiohcs.access.grant_vm_access`),
        or the start raises :class:`~aiohcs.errors.AccessDenied`. If the start
        fails, the new system is terminated and its handle closed. A configuration without
        ``VirtualMachine`` (containers cannot be restored) raises
        :class:`~aiohcs.errors.InvalidDocumentError`.
        """
        check_name(id, "id")
        check_namespace(namespace)
        path = check_path(state_file, "state_file")
        if config is None:
            raise InvalidArgumentTypeError("config must not be None")
        text = document_text(config, "ComputeSystem", argument="config")
        document = parse_document(text) if text is not None else {}
        vm = document.get("VirtualMachine")
        if not isinstance(vm, dict):
            problem = "restore needs a VirtualMachine configuration (containers cannot be restored)"
            raise InvalidDocumentError(
                "ComputeSystem", [("VirtualMachine", problem)], argument="config"
            )
        restore_state = dict(vm.get("RestoreState") or {})
        restore_state["SaveStateFilePath"] = path
        vm["RestoreState"] = restore_state
        system = await cls.create(
            id, document, namespace=namespace, lifecycle_events=lifecycle_events
        )
        try:
            await system.start()
        except BaseException:
            await system._discard()
            raise
        return system

    @classmethod
    async def migrate_in(
        cls,
        id: str,
        config: Any,
        transport: Transport,
        *,
        session_id: int | None = None,
        namespace: str | None = None,
        lifecycle_events: bool = False,
    ) -> ComputeSystem:
        """Receive a live migration: the destination side of :meth:`migrate`.

        Creates ``id`` from ``config`` (the source's configuration), starts it as the
        destination of the migration arriving on ``transport`` (a connected socket, or its
        descriptor; ``session_id`` must match the source's), transfers the state and
        resumes the VM here; returns the running system. Needs a Windows release with live
        migration (otherwise :class:`~aiohcs.errors.UnsupportedOnThisHost`, before anything
        starts). The socket stays the caller's: keep it open until this returns.

        If anything fails, or the call is cancelled, before the transfer has completed, the
        migration is cancelled (HcsCancelLiveMigration, Origin ``Destination``), the
        transport shut down (``SHUT_RDWR``, not closed: the source fails at once), the new
        system terminated and its handle closed, whatever cancels the caller, and the error
        propagates: nothing is left behind on this host. Once the transfer has completed this
        host holds the VM's state (the source stops): the finalize (``Resume``) is then made
        to its end whatever interrupts the call, and an interruption closes this call's handle
        without terminating the system before it propagates; the VM runs on here
        (:meth:`open` it by ``id``).
        """
        from aiohcs._handle import run_shielded
        from aiohcs._migrate import TRANSFERRED, migrate_in, require_migration, socket_handle

        require_migration()
        socket_handle(transport)  # (checked before anything is created)

        async def create() -> ComputeSystem:
            return await cls.create(
                id, config, namespace=namespace, lifecycle_events=lifecycle_events
            )

        # Not abandoned half-way (a cancelled create may still make the system): made to
        # its end, then discarded if the caller was cancelled meanwhile.
        system, cancelled = await run_shielded(create)
        completed: list[str] = []
        try:
            if cancelled is not None:
                raise cancelled
            await migrate_in(system, transport, session_id=session_id, completed=completed)
        except BaseException:
            if TRANSFERRED in completed:  # (the VM runs here now: kept, never terminated)
                with anyio.CancelScope(shield=True):
                    await system.aclose()
            else:
                await system._discard()
            raise
        return system

    async def _discard(self) -> None:
        """Terminate and close a system this call created and cannot hand out.

        Never left running: the terminate is made even if asyncio's own cancel arrives
        while it waits for its turn, and the handle is closed whatever happens.
        """
        try:
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await self._call("Terminate", lib.HcsTerminateComputeSystem, cleanup=True)
        finally:
            await self.aclose()

    async def _missed_exit(self) -> str | None:
        props = await self.properties()
        if not (props.stopped or props.state == "Stopped"):
            return None
        from aiohcs.schema import SystemExitStatus

        text: str = SystemExitStatus(status=0, exit_type=props.exit_type).to_json()
        return text

    # ---------------------------------------------------------------- attributes

    @property
    def id(self) -> str:
        """The compute system's id."""
        return self._id

    @property
    def namespace(self) -> str | None:
        """The namespace the system was created or opened in (None = default)."""
        return self._namespace

    @property
    def exit_event(self) -> Event | None:
        """The terminal event (SystemExited or ServiceDisconnectedEvent) if one arrived."""
        return self._hub.terminal

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<ComputeSystem {self._id!r} ({state})>"

    # ---------------------------------------------------------------- lifecycle calls

    async def start(self, options: Any = None) -> None:
        """Start the system (Created → Running; restores if RestoreState is configured).

        ``options`` (rarely used): a JSON object (mapping or JSON text).
        """
        await self._lifecycle("Start", options)

    async def pause(self, options: Any = None) -> None:
        """Pause the system (Running → Paused). ``options``: PauseOptions."""
        await self._lifecycle("Pause", options)

    async def resume(self, options: Any = None) -> None:
        """Resume the system (Paused → Running). ``options``: a JSON object, rarely used."""
        await self._lifecycle("Resume", options)

    async def save(self, path_or_options: Any) -> None:
        """Save the system's state. A path means ``{"SaveType": "ToFile", ...}``.

        Otherwise pass SaveOptions (e.g. ``{"SaveType": "AsTemplate"}``). HCS saves only
        paused systems.
        """
        await self._lifecycle("Save", path_or_options)

    async def shutdown(self, options: Any = None) -> None:
        """Ask the guest to shut down (needs a guest agent). The exit arrives as an event.

        ``options``: ShutdownOptions.
        """
        await self._lifecycle("Shutdown", options)

    async def terminate(self, options: Any = None) -> None:
        """Forcibly stop the system. The exit arrives as :class:`SystemExited`.

        ``options`` (rarely used): a JSON object (mapping or JSON text).
        """
        await self._lifecycle("Terminate", options)

    async def crash(self, options: Any = None) -> None:
        """Make the guest crash (an NMI). ``options``: CrashOptions."""
        await self._lifecycle("Crash", options)

    async def _lifecycle(self, operation: str, options: Any) -> None:
        self._require_handle()  # (a closed handle fails first, before any validation)
        text = options_text(operation, options)
        await self._call(operation, getattr(lib, LIFECYCLE_CALLS[operation][0]), text)

    @property
    def tracked(self) -> TrackedCalls:
        """The lifecycle calls with progress, as :class:`~aiohcs.progress.TrackedOperation`.

        ``async with system.tracked.save(path) as op: async for p in op.progress(): ...``
        (see :mod:`aiohcs.progress`). Needs a newer Windows release
        (:data:`EVENTS_EXPORT`).
        """
        return TrackedCalls(self)

    async def migrate(
        self,
        transport: Transport,
        *,
        session_id: int | None = None,
        options: Any = None,
    ) -> None:
        """Live-migrate this VM to another host: the source side (see :meth:`migrate_in`).

        ``transport``: a socket connected to the destination (or its descriptor), which
        stays the caller's. ``session_id``: the session both sides name (32 bits).
        ``options``: :class:`aiohcs.migration.MigrationInitializeOptions` (model, mapping or
        JSON text; ``Origin`` is set to ``Source``). Once the state has crossed,
        HcsFinalizeLiveMigration stops this VM (``Stop``): it runs only at the destination.
        The steps are HcsInitializeLiveMigrationOnSource,
        HcsStartLiveMigrationOnSource, HcsStartLiveMigrationTransfer and
        HcsFinalizeLiveMigration; the system's :meth:`events` yield
        :class:`~aiohcs.events.LiveMigrationEvent` notifications meanwhile. Needs a Windows
        release with live migration (otherwise
        :class:`~aiohcs.errors.UnsupportedOnThisHost`, before anything reaches HCS).

        If a step fails, or the call is cancelled, before the transfer has completed, the
        migration is cancelled (HcsCancelLiveMigration, Origin ``Source``; shielded; not if
        this call's own Initialize was refused, as when the system is already migrating),
        the transport shut down (``SHUT_RDWR``, not closed: the destination fails at once)
        and the error propagates: the VM stays here, running. After the transfer the state
        is at the destination: the VM is finalized with ``Stop`` here whatever interrupts
        the call, then the error propagates. A cancellation during the finalize abandons
        the wait for it only (the finalize runs to its end).
        """
        from aiohcs._migrate import migrate_out

        await migrate_out(self, transport, session_id=session_id, options=options)

    async def modify(self, request: Any) -> None:
        """Modify the running system. ``request``: ModifySettingRequest."""
        if request is None:
            raise InvalidArgumentTypeError("request must not be None")
        await self._call(
            "Modify",
            lib.HcsModifyComputeSystem,
            request,
            ffi.NULL,
            type_name="ModifySettingRequest",
            argument="request",
        )

    async def add_network_adapter(
        self, endpoint: Any, *, name: str | None = None, mac_address: str | None = None
    ) -> None:
        """Hot-add a network adapter for the HCN ``endpoint`` (an hcn.Endpoint or its id).

        ``name``: the adapter's (None: the endpoint id); ``mac_address``: None takes the
        endpoint's. The endpoint must exist (else :class:`~aiohcs.errors.NotFound`). A
        container takes none (:class:`~aiohcs.errors.InvalidArgumentError`, nothing sent).
        """
        from aiohcs._hcn_adapter import add_adapter

        await add_adapter(self, endpoint, name=name, mac_address=mac_address)

    async def properties(self, *property_types: str, query: Any = None) -> Properties:
        """Return the system's :class:`aiohcs.schema.Properties`.

        ``property_types`` (e.g. ``"Statistics"``, ``"Memory"``) add members to the basic
        properties; ``query`` passes a whole System_PropertyQuery instead (model, dict or
        JSON text, validated first).
        """
        if query is None and property_types:
            query = {"PropertyTypes": list(property_types)}
        document = await self._call(
            "GetProperties",
            lib.HcsGetComputeSystemProperties,
            query,
            type_name="System_PropertyQuery",
            argument="query",
        )
        props: Properties | None = parse_model(document, "Properties")
        if props is None:
            from aiohcs.schema import Properties

            props = Properties()
        return props

    # ---------------------------------------------------------------- processes

    async def open_process(
        self,
        command: Command | None = None,
        *,
        stdin: int | None = PIPE,
        stdout: int | None = PIPE,
        stderr: int | None = PIPE,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        user: str | None = None,
        console: tuple[int, int] | None = None,
        pipe_engine: str | None = None,
        drain_timeout: float = DRAIN_TIMEOUT,
        guest_os: GuestOs | None = None,
        parameters: Any = None,
    ) -> Process:
        """Start ``command`` in the system; return the :class:`~aiohcs.process.Process`.

        ``command``: a sequence of arguments (``CommandArgs`` on Linux guests, a quoted
        ``CommandLine`` on Windows guests) or one string passed as ``CommandLine``
        unchanged. No shell is involved. ``stdin``/``stdout``/``stderr``: ``PIPE`` for a
        stream, ``None``/``DEVNULL`` for none. ``env`` is added to the guest's default
        environment. ``console=(height, width)`` gives the process a console (pty): its
        output then comes on ``stdout`` and there is no ``stderr``. ``pipe_engine``:
        ``"fd"`` or ``"thread"`` (see :mod:`aiohcs._pipes`). ``drain_timeout``: how long
        :meth:`~aiohcs.process.Process.wait` waits for the output pipes after the exit
        (seconds, default :data:`aiohcs.process.DRAIN_TIMEOUT`; ``math.inf``: no limit).

        ``guest_os``: ``"Linux"`` or ``"Windows"``, how to pass a sequence ``command`` (and
        signals); by default the system's RuntimeOsType decides, and a system that reports
        none is taken for Windows. ``parameters``: a complete ProcessParameters document
        (model, mapping or JSON text; extension members such as the ``OciProcess`` of
        Linux container guests are kept) sent instead of one built from ``command`` —
        passing ``command``, ``cwd``, ``env``, ``user`` or ``console`` with it raises
        :class:`~aiohcs.errors.InvalidArgumentError`. The pipes are still what ``stdin``,
        ``stdout`` and ``stderr`` ask for (they set its ``Create*Pipe`` members).
        """
        options = OpenProcessOptions(
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            cwd=cwd,
            env=env,
            user=user,
            console=console,
            pipe_engine=pipe_engine,
            drain_timeout=drain_timeout,
            guest_os=guest_os,
            parameters=parameters,
        )
        return await open_process(self, command, **options)

    async def run_process(
        self,
        command: Command | None = None,
        *,
        input: bytes | bytearray | memoryview | None = None,
        check: bool = True,
        stdout: int | None = PIPE,
        stderr: int | None = PIPE,
        **options: Unpack[ProcessOptions],
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``command`` to completion, feeding ``input`` and collecting its output.

        Returns ``CompletedProcess(args, returncode, stdout, stderr)`` (output None for
        streams not piped). ``input``: bytes (or bytearray, memoryview) for stdin.
        ``check=True`` raises :class:`~aiohcs.process.ProcessFailed` on a non-zero exit.
        ``options``: ``cwd``, ``env``, ``user``, ``console``, ``pipe_engine``,
        ``drain_timeout``, ``guest_os``, ``parameters`` as for :meth:`open_process`. Every
        argument is checked before anything starts (``TypeError``, or
        :class:`~aiohcs.errors.InvalidArgumentError` for a bad value).

        ``drain_timeout`` bounds the wait for output after the exit, as for
        :meth:`~aiohcs.process.Process.wait`: output pipes a background child keeps open
        end the reading once it ran out, with what was read so far (and a
        :class:`~aiohcs.process.PipesNotClosed` warning). Cancellation by any means (anyio
        or trio scopes, ``asyncio.wait_for``, ``task.cancel()``, ``asyncio.timeout``)
        kills the process and closes everything before it propagates.
        """
        return await run_process(
            self, command, input=input, check=check, stdout=stdout, stderr=stderr, **options
        )

    async def stream_process(
        self,
        command: Command | None,
        write: Callable[[str, bytes], object],
        **options: Unpack[ProcessOptions],
    ) -> int:
        """Run ``command``, calling ``write("stdout"|"stderr", chunk)`` as output arrives.

        Returns the exit code (meant for showing a process's output live; the demo uses
        it). ``options`` as for :meth:`run_process`; so are the checks, the
        ``drain_timeout`` rule and cancellation. An exception ``write`` raises kills the
        process and propagates as it is.
        """
        return await stream_process(self, command, write, **options)

    async def connect_hvsocket(self, service_id: uuid.UUID | str) -> anyio.abc.ByteStream:
        """Connect from the host to ``service_id`` in this system's guest (a Hyper-V socket).

        The address is the system's RuntimeId; see :func:`aiohcs.hvsocket.connect_hvsocket`
        (its errors, and the host listener).
        """
        from aiohcs.hvsocket import _system_connect

        return await _system_connect(self.properties, self.id, service_id)

    async def create_hvsocket_listener(
        self, service_id: uuid.UUID | str
    ) -> anyio.abc.SocketListener:
        """Listen on the host for connections to ``service_id`` from this system's guest.

        The address is the system's RuntimeId; see
        :func:`aiohcs.hvsocket.create_hvsocket_listener` (its errors, one listener per
        service) and :func:`aiohcs.hvsocket.guest_connect` (the guest side on hcsim).
        """
        from aiohcs.hvsocket import _system_listener

        return await _system_listener(self.properties, self.id, service_id)

    # ---------------------------------------------------------------- events

    def events(self) -> EventStream:
        """Return an async iterator over the system's events, from now on.

        Each iterator gets every event; several may be open at once. Iteration ends after
        :class:`~aiohcs.events.SystemExited` (or ServiceDisconnectedEvent) or when the system
        is closed. A system that has already exited yields its exit event and ends. On a
        closed handle it raises :class:`HandleClosedError` (like every other call).
        """
        self._require_handle()
        return self._hub.subscribe()

    async def wait(self) -> SystemExitStatus:
        """Wait until the system exits and return its :class:`aiohcs.schema.SystemExitStatus`.

        Works with or without an event iterator. Raises
        :class:`~aiohcs.errors.ServiceDisconnected` if the service connection was lost and
        :class:`HandleClosedError` if the handle was closed before the system exited.

        An exit found by the properties check right after the registration (the system
        exited before its event could be received; ``exit_event.synthesized`` is True)
        has no real exit status: it is reported with ``status`` 0 and the properties'
        ``exit_type``, without attribution, whatever really happened — do not read
        ``status == 0`` as a clean exit then.
        """
        terminal = await self._wait_terminal()
        status: SystemExitStatus | None = None
        if isinstance(terminal, SystemExited):
            status = terminal.status
        if status is None:
            from aiohcs.schema import SystemExitStatus

            status = SystemExitStatus()
        return status


def _event_options(lifecycle_events: bool) -> int:
    """The HCS_EVENT_OPTIONS of a system's event callback.

    Live-migration events wherever the host can migrate (they come only during a
    migration: nothing else changes); VM lifecycle events when asked for.
    """
    options = 0
    if export_available(MIGRATION_EVENTS_EXPORT):
        options |= _EVENT_OPTION_LIVE_MIGRATION
    if lifecycle_events:
        require_export(EVENTS_EXPORT)
        options |= _EVENT_OPTION_VM_LIFECYCLE
    return options


async def _create_handle(
    bridge: LoopBridge,
    id: str,
    document: str,
    namespace: str | None,
    with_options: bool,
    event_options: int,
) -> PendingHandle:
    """Create the system and register its event callback (with ``event_options``).

    With ``with_options`` the callback is registered atomically by
    HcsCreateComputeSystemInNamespace (HCS_CREATE_OPTIONS_1); otherwise right after
    HcsCreateComputeSystem returns, in the same worker-thread call.
    """
    texts = (to_wide(id), to_wide(document), to_wide(namespace))
    async with PendingHandle(SYSTEM, bridge) as pending:
        lib.aiohcs_set_event_options(pending.hub.id, event_options)
        # On a bridge thread: HcsCreateComputeSystemInNamespace registers the callback
        # through HCS_CREATE_OPTIONS_1; HcsCreateComputeSystem is followed at once by
        # HcsSetComputeSystemCallback (events from then on are queued for this loop).
        kind = CALL_CREATE_SYSTEM if with_options else CALL_CREATE_SYSTEM_PLAIN
        start = NativeStart(kind, texts, pending.hub.id, pending.take_call)
        await run_operation(start, operation="Create", system_id=id)
        pending.check_registered(system_id=id)
    return pending


async def enumerate_systems(query: Any = None, *, namespace: str | None = None) -> list[Properties]:
    """Return the :class:`aiohcs.schema.Properties` of the systems matching ``query``.

    ``query`` is a SystemQuery (model, dict or JSON text, validated first); ``None`` lists
    every system (of ``namespace``, if given).
    """
    if check_namespace(namespace) is not None:
        require_export("HcsEnumerateComputeSystemsInNamespace")
    text = document_text(query, "SystemQuery", argument="query")
    w_query, w_namespace = to_wide(text), to_wide(namespace)

    def start(op: Any) -> int:
        if namespace is not None:
            hr: int = lib.HcsEnumerateComputeSystemsInNamespace(w_namespace, w_query, op)
        else:
            hr = lib.HcsEnumerateComputeSystems(w_query, op)
        return hr

    result = await run_operation(start, operation="Enumerate", in_thread=True)
    return parse_model_list(result.document, "Properties")
