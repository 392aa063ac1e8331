"""Processes inside compute systems, with async stdio.

:meth:`ComputeSystem.open_process <aiohcs.system.ComputeSystem.open_process>` (or
:func:`open_process`) starts a process through ``HcsCreateProcess``
and returns a :class:`Process`: its HCS_PROCESS handle (events registered before the process
can exit), and its std pipes as anyio byte streams (:mod:`aiohcs._pipes`). No shell is ever
involved: a sequence of arguments becomes ``CommandArgs`` for Linux guests and a command
line quoted by the ``CommandLineToArgvW`` rules for Windows guests (:mod:`aiohcs._cmdline`);
a single string is passed unchanged as ``CommandLine``. The guest OS comes from the
system's RuntimeOsType unless ``guest_os=`` says it; ``parameters=`` sends a complete
ProcessParameters document instead (e.g. with the ``OciProcess`` member Linux container
guests take). Every argument is checked, and the
documents (ProcessParameters, SignalProcessOptions, ProcessModifyRequest) are validated as
their :mod:`aiohcs.schema` models, before anything reaches HCS.

Exit: :meth:`Process.wait` reports the exit code only once the output pipes are complete —
every byte the process wrote to stdout/stderr can be read from the streams (their write
side is closed). A guest whose pipes stay open after the exit (a background child keeps
them) gets a bounded grace period (``drain_timeout``, default :data:`DRAIN_TIMEOUT`); then
the exit is reported anyway, :attr:`Process.pipes_not_closed` names the pipes and a
:class:`PipesNotClosed` warning is issued.

Signals, terminate and kill of a process that has already exited are benign no-ops: they
return False (True when delivered). ERROR_ACCESS_DENIED from a terminate or kill counts as
"already exited" only once a properties query (or the exit event) confirms it, within a
short grace period for an exit in progress; otherwise, and from any other call, it is
raised as :class:`~aiohcs.errors.AccessDenied`.
``kill()`` opens a fresh system handle and process handle for its terminate, because HCS
serialises signals per system handle and a kill must not queue behind them (HCS
contract §8.3).

``async with proc`` / ``aclose()`` behave like anyio's processes: close stdin, wait for the
exit (killing the process if the wait is cancelled), close the pipes and the handle. When
the ``async with`` block raises, the process is killed instead of awaited, and closed
without waiting for its pipes. ``aclose(wait=False)`` only lets go: the process keeps
running in the guest.

Cancellation, by any means (anyio and trio scopes, and on asyncio ``task.cancel()``,
``asyncio.wait_for``, ``asyncio.timeout``, which anyio's shields do not stop), never leaves
a process behind: a start cancelled at any point still completes the create, then kills
and closes the process (bounded: the kill waits at most :data:`_REAP_SECONDS` for the exit
event, and never waits for the pipes); so do ``run_process``, ``stream_process`` and the
wait inside ``async with proc``. The work that must not stop half-way runs through
:func:`aiohcs._handle.run_shielded`.
"""

from __future__ import annotations

import contextlib
import functools
import subprocess
import warnings
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final

import anyio
import anyio.lowlevel

from aiohcs import _process_run, errors
from aiohcs._bridge import current_bridge, run_sync
from aiohcs._documents import coerce_document
from aiohcs._handle import (
    GENERIC_ALL,
    PROCESS,
    HandleKind,
    HandleOwner,
    PendingHandle,
    close_fresh_process,
    open_fresh_process,
    run_shielded,
    using_handle,
)
from aiohcs._native import ffi, lib, to_wide
from aiohcs._pipes import (
    PipeReceiveStream,
    PipeSendStream,
)
from aiohcs._process_calls import (
    create_process_handle,
    parse_status,
    process_status,
    recover_process_info,
)
from aiohcs._process_options import (
    DEVNULL,
    DRAIN_TIMEOUT,
    PIPE,
    Command,
    GuestOs,
    OpenProcessOptions,
    ProcessOptions,
    RunProcessOptions,
    check_drain_timeout,
    check_guest_os,
    check_keywords,
    check_pid,
)
from aiohcs._process_params import build_process_parameters, check_size, check_start
from aiohcs._process_parent import ProcessParent, detect_guest_os
from aiohcs._process_run import ProcessFailed
from aiohcs._process_run import collect_output as collect_output
from aiohcs._process_stdio import open_streams, wait_outputs
from aiohcs._signals import LINUX_SIGNALS, WINDOWS_SIGNALS, check_signal, signal_for
from aiohcs.errors import PipesNotClosed
from aiohcs.events import EventStream, ProcessExited
from aiohcs.operation import HandleClosedError, run_operation

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Unpack

    from aiohcs._bridge import ProcessInfo
    from aiohcs.schema import ProcessStatus

__all__ = [
    "DEVNULL",
    "DRAIN_TIMEOUT",
    "LINUX_SIGNALS",
    "PIPE",
    "WINDOWS_SIGNALS",
    "Command",
    "CompletedProcess",
    "OpenProcessOptions",
    "PipesNotClosed",
    "Process",
    "ProcessFailed",
    "ProcessOptions",
    "RunProcessOptions",
    "build_process_parameters",
    "detect_guest_os",
    "open_process",
    "run_process",
    "stream_process",
]

# How long a kill on the way out waits for the exit event before the handle is closed.
_REAP_SECONDS: Final = 2.0
# How long a refused terminate/kill waits for an exit in progress before it raises.
_CONFIRM_SECONDS: Final = 1.0
#: Errors that mean "the process (or its system) is already gone", whatever the call.
#: (ERROR_ACCESS_DENIED is not one of them: a terminate of a dead process may return it,
#: HCS contract §8.3, so terminate and kill check the process before they take it so;
#: for any other call it is a plain error.)
_GONE: Final = (
    errors.ProcessAlreadyStopped,
    errors.ProcessNotFound,
    errors.SystemAlreadyStopped,
    errors.SystemNotFound,
)
# (Looked up here at each create: tests replace it in this module.)
_recover_process_info = recover_process_info

CompletedProcess = subprocess.CompletedProcess

# ------------------------------------------------------------------------ the process


class Process(HandleOwner):
    """A process in a compute system: its HCS_PROCESS handle and its std streams."""

    __slots__ = (
        "_args",
        "_drain_timeout",
        "_guest",
        "_namespace",
        "_returncode",
        "_system",
        "_system_id",
        "pid",
        "pipes_not_closed",
        "stderr",
        "stdin",
        "stdout",
    )

    #: The process id in the guest.
    pid: int
    #: The write end of the process's stdin (None if not requested).
    stdin: PipeSendStream | None
    #: The read ends of its stdout / stderr (None if not requested).
    stdout: PipeReceiveStream | None
    stderr: PipeReceiveStream | None
    #: Output pipes still open when the drain grace period ran out (empty normally).
    pipes_not_closed: tuple[str, ...]

    _KIND: ClassVar[HandleKind] = PROCESS

    def __init__(
        self,
        system: ProcessParent,
        pending: PendingHandle,
        pid: int,
        args: Any,
        guest: GuestOs | None,
        drain_timeout: float,
        /,
    ) -> None:
        """(Internal: use ``system.open_process`` or :meth:`Process.open`.)"""
        super().__init__(
            pending,
            f"process {pid} in {system.id!r}",
            {"system_id": system.id, "process_id": pid},
        )
        self._system = system
        self._system_id = system.id
        self._namespace = system.namespace
        self.pid = pid
        self._args = args
        self._guest = guest
        self._drain_timeout = drain_timeout
        self._returncode: int | None = None
        self.stdin = None
        self.stdout = None
        self.stderr = None
        self.pipes_not_closed = ()

    # ---------------------------------------------------------------- construction

    @classmethod
    async def _create(
        cls, system: ProcessParent, command: Command | None, options: Mapping[str, Any]
    ) -> Process:
        """Start ``command`` (``options``: the keywords of ``open_process``, all checked)."""
        # Everything is checked (and the document validated) before any HCS call.
        start = check_start(command, options)
        await current_bridge().admit()  # (a burst of creates begins a few per loop turn)
        guest = start.guest
        if start.needs_guest_os:
            guest = await detect_guest_os(system)
        w_params = to_wide(start.document(guest))
        pending, info, cancelled = await create_process_handle(
            system, w_params, _recover_process_info
        )
        proc = cls(system, pending, info.process_id, start.args, guest, start.drain_timeout)
        await proc._watch(info, start.engine, cancelled)
        return proc

    async def _watch(self, info: ProcessInfo, engine: str, cancelled: BaseException | None) -> None:
        """Attach the pipes and catch an early exit; a process that fails here is killed."""
        try:
            self._attach_pipes(info, engine)
        except BaseException:
            await run_shielded(self._abandon)  # no pipes: stop it, close the handle
            raise
        if cancelled is not None:
            # Cancelled while it was being created: it is killed and closed, never left.
            await run_shielded(self._abandon)
            raise cancelled
        # HCS hands out the process handle while the process may already be running, so
        # it can exit before the callback is registered (events before it are not replayed;
        # whether the exit itself reaches a late registration is not documented, so look).
        await self._check_missed_exit(shield=True, on_failure=self._abandon)

    def _attach_pipes(self, info: ProcessInfo, engine: str) -> None:
        """Wrap the pipe handles in streams (none is left open if that fails)."""
        ids = {"system_id": self._system_id, "process_id": self.pid}
        streams = open_streams(info, engine, self._stdin_closed, **ids)
        self.stdin, self.stdout, self.stderr = streams

    @classmethod
    async def open(
        cls,
        system: ProcessParent,
        pid: int,
        *,
        drain_timeout: float = DRAIN_TIMEOUT,
        guest_os: GuestOs | None = None,
    ) -> Process:
        """Open a new handle to the running process ``pid`` of ``system`` (no std streams).

        Raises :class:`~aiohcs.errors.ProcessNotFound` if there is no such process, and
        ``TypeError`` or :class:`~aiohcs.errors.InvalidArgumentError` before any HCS call
        for a ``pid`` that is no int from 0 to 2**32 - 1.
        ``drain_timeout`` and ``guest_os`` (for signals) as for
        :meth:`ComputeSystem.open_process <aiohcs.system.ComputeSystem.open_process>`.
        """
        pid = check_pid(pid)
        drain_timeout = check_drain_timeout(drain_timeout)
        guest = check_guest_os(guest_os)
        sys_handle = system._require_handle()

        def do_open(out: Any) -> int:
            hr: int = lib.HcsOpenProcess(sys_handle, pid, GENERIC_ALL, out)
            return hr

        async with PendingHandle(PROCESS, current_bridge()) as pending:
            with using_handle(system._ops):  # the system handle is used in a worker thread
                await pending.open(
                    do_open, operation="OpenProcess", system_id=system.id, process_id=pid
                )
        proc = cls(system, pending, pid, None, guest, drain_timeout)
        # An exit between the open and the registration is caught here.
        await proc._check_missed_exit(on_failure=functools.partial(proc.aclose, wait=False))
        return proc

    async def _missed_exit(self) -> str | None:
        try:
            status = await self.properties()
        except _GONE:
            from aiohcs.schema import ProcessStatus

            status = ProcessStatus(process_id=self.pid, exited=True, last_wait_result=-1)
        return status.to_json() if status.exited else None

    # ---------------------------------------------------------------- attributes

    @property
    def args(self) -> Any:
        """The command the process was started with (None for :meth:`open`).

        For a process started with ``parameters=``: the ProcessParameters model sent.
        """
        return self._args

    @property
    def exited(self) -> bool:
        """True once HCS reported the exit (the pipes may still be draining)."""
        return isinstance(self._hub.terminal, ProcessExited)

    @property
    def returncode(self) -> int | None:
        """The exit code once :meth:`wait` has reported the exit, else None."""
        return self._returncode

    def __repr__(self) -> str:
        state = f"returncode={self._returncode}" if self._returncode is not None else "running"
        return f"<Process {self.pid} in {self._system_id!r} ({state})>"

    # ---------------------------------------------------------------- operations

    async def _stop_call(
        self, operation: str, function: Callable[..., int], options: Any = None
    ) -> bool:
        """Run a signal/terminate; False if the process had already exited."""
        if self.exited:
            await anyio.lowlevel.checkpoint()
            return False
        try:
            await self._call(operation, function, options, type_name="SignalProcessOptions")
        except _GONE:
            return False
        except errors.AccessDenied as exc:
            if operation != "TerminateProcess":
                raise
            return await self._confirm_exited(exc)
        return True

    async def _confirm_exited(
        self,
        error: errors.HcsError,
        query: Callable[[], Awaitable[ProcessStatus]] | None = None,
    ) -> bool:
        """ACCESS_DENIED from a terminate: False if the process has exited, else raise it.

        A terminate of a dead or dying process can fail so, also when it comes right after
        another terminate and ``Exited`` is not true yet (HCS contract §8.3): the exit event
        and ``query`` (default :meth:`properties`) are watched for up to
        :data:`_CONFIRM_SECONDS` before ``error`` is raised; a live process that refuses
        the terminate must not be reported as gone. A query that fails (the object's
        handle closed, say) confirms nothing: ``error`` is raised then too.
        """
        ask = self.properties if query is None else query
        deadline = anyio.current_time() + _CONFIRM_SECONDS
        pause = 0.01
        while not self.exited:
            try:
                status = await ask()
            except _GONE:
                return False
            except errors.HcsError:  # HandleClosedError included: nothing to ask
                raise error from None
            if status.exited:
                return False
            remaining = deadline - anyio.current_time()
            if remaining <= 0:
                raise error
            await self._pause_for_exit(min(pause, remaining))
            pause = min(pause * 2, 0.2)
        return False

    async def _pause_for_exit(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the exit event arrives meanwhile."""
        with anyio.move_on_after(seconds):
            await self._hub.wait()
            if not self.exited:  # closed, or the service went away: no exit event comes
                await anyio.sleep_forever()

    async def _guest_os(self) -> GuestOs:
        if self._guest is None:
            self._guest = await detect_guest_os(self._system)
        return self._guest

    async def send_signal(self, sig: int | str) -> bool:
        """Send a signal; True if delivered, False if the process had already exited.

        Linux guests take a signal number (``signal.SIGTERM`` or ``15``) or a POSIX name
        (``"SIGTERM"``, ``"term"``). Windows guests take a ProcessSignal name
        (:data:`WINDOWS_SIGNALS`); SIGINT and SIGTERM map to CtrlC and CtrlShutdown (and
        a ``signal.Signals`` member by its name: the host's numbers differ on Windows). A
        signal that is no such thing raises ``TypeError`` or
        :class:`~aiohcs.errors.InvalidArgumentError` before anything reaches HCS.
        """
        check_signal(sig)
        value = signal_for(sig, await self._guest_os())
        options = coerce_document({"Signal": value}, "SignalProcessOptions", argument="sig")
        return await self._stop_call("SignalProcess", lib.HcsSignalProcess, options)

    async def terminate(self) -> bool:
        """Terminate the process (HcsTerminateProcess); False if it had already exited."""
        return await self._stop_call("TerminateProcess", lib.HcsTerminateProcess)

    async def kill(self) -> bool:
        """Terminate through a fresh system and process handle (never queued behind signals).

        False if the process had already exited. Works after ``aclose(wait=False)`` too: a
        refused terminate (AccessDenied) is then checked through the fresh process handle,
        so it is False if the process exits within the grace period and AccessDenied if it
        still runs. Only when HCS refuses to open the process at all and this object's
        handle is closed is nothing left to ask: the AccessDenied is raised.
        """
        if self.exited:
            await anyio.lowlevel.checkpoint()
            return False
        hr, sys_h, proc_h = await open_fresh_process(self._system_id, self._namespace, self.pid)
        if hr < 0:
            error = errors.error_from_hresult(
                hr, operation="TerminateProcess", system_id=self._system_id, process_id=self.pid
            )
            if isinstance(error, _GONE):
                return False
            if isinstance(error, errors.AccessDenied):
                return await self._confirm_exited(error)
            raise error
        try:
            return await self._terminate_through(proc_h)
        finally:
            with anyio.CancelScope(shield=True):
                await run_sync(close_fresh_process, sys_h, proc_h)

    async def _terminate_through(self, proc_h: Any) -> bool:
        """HcsTerminateProcess through ``proc_h`` (a fresh handle); False if it had exited."""
        pid = self.pid

        def start(op: Any) -> int:
            result: int = lib.HcsTerminateProcess(proc_h, op, ffi.NULL)
            return result

        try:
            await run_operation(
                start, operation="TerminateProcess", system_id=self._system_id, process_id=pid
            )
        except _GONE:
            return False
        except errors.AccessDenied as exc:
            # Asked through the fresh handle: it works after aclose(wait=False) too.
            query = functools.partial(process_status, proc_h, self._system_id, pid)
            return await self._confirm_exited(exc, query)
        return True

    async def resize_console(self, height: int, width: int) -> None:
        """Change the console size of a process started with ``console=``.

        Sizes outside 0 to 65535 raise :class:`~aiohcs.errors.InvalidDocumentError`.
        """
        size = {"Height": check_size(height, "height"), "Width": check_size(width, "width")}
        request = {"Operation": "ConsoleSize", "ConsoleSize": size}
        await self._call(
            "ModifyProcess",
            lib.HcsModifyProcess,
            request,
            type_name="ProcessModifyRequest",
            argument="console size",
        )

    async def properties(self) -> ProcessStatus:
        """Return the process's :class:`aiohcs.schema.ProcessStatus`.

        ``process_id``, ``exited``, and once it has exited ``exit_code`` (meaningful when
        ``last_wait_result`` is 0).
        """
        document = await self._call("GetProcessProperties", lib.HcsGetProcessProperties)
        return parse_status(document)

    async def _stdin_closed(self) -> None:
        # After our handle is closed: HCS's own copy (Windows guests relay stdin) too.
        if self.exited or self._ops.closed:
            return
        # (A mapping: validated as ProcessModifyRequest on its way, like any document.)
        request = {"Operation": "CloseHandle", "CloseHandle": {"Handle": "StdIn"}}
        with contextlib.suppress(*_GONE, HandleClosedError):
            try:
                await self._call(
                    "ModifyProcess",
                    lib.HcsModifyProcess,
                    request,
                    type_name="ProcessModifyRequest",
                    cleanup=True,  # (made even if asyncio's cancel arrives first)
                )
            except errors.AccessDenied as exc:
                await self._confirm_exited(exc)

    # ---------------------------------------------------------------- exit

    def events(self) -> EventStream:
        """An async iterator over the process's events (ProcessExited, ...), from now on.

        On a closed handle it raises :class:`HandleClosedError`, like every other call.
        """
        self._require_handle()
        return self._hub.subscribe()

    async def wait(self) -> int:
        """Wait for the exit and return the exit code (see the module docs on draining).

        An exit code HCS could not determine (LastWaitResult != 0) is reported as -1.
        Raises :class:`~aiohcs.errors.ServiceDisconnected` if the service went away and
        :class:`HandleClosedError` if the handle was closed first.
        """
        if self._returncode is not None:
            await anyio.lowlevel.checkpoint()
            return self._returncode
        terminal = await self._wait_terminal()
        code = terminal.exit_code if isinstance(terminal, ProcessExited) else None
        if code is None:
            code = -1
        await self._drain()
        if self._returncode is None:
            self._returncode = code
        return code

    async def _drain(self) -> None:
        outputs = [("stdout", self.stdout), ("stderr", self.stderr)]
        pending = await wait_outputs(outputs, self._drain_timeout)
        if pending:
            self.pipes_not_closed = pending
            warnings.warn(
                PipesNotClosed(
                    f"process {self.pid} in {self._system_id!r} exited but its "
                    f"{' and '.join(pending)} stayed open for {self._drain_timeout} s"
                ),
                stacklevel=3,
            )

    # ---------------------------------------------------------------- close

    async def aclose(self, *, wait: bool = True) -> None:
        """Close stdin, wait for the exit (kill if cancelled), then close pipes and handle.

        With ``wait=False`` nothing waits: the streams and the handle are closed and the
        process keeps running in the guest. Idempotent.
        """
        try:
            if wait and self._close_done is None:
                try:
                    if self.stdin is not None:
                        await self.stdin.aclose()
                    await self.wait()
                except errors.HcsError:
                    pass  # service gone: nothing to wait for
                except BaseException:
                    await self._kill_and_reap()
                    raise
        finally:
            await self._close_handle()

    async def _release(self) -> None:
        for stream in (self.stdin, self.stdout, self.stderr):
            if stream is not None:
                with contextlib.suppress(Exception):
                    await stream.aclose()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            # The block failed (or was cancelled): kill the process rather than wait for
            # it, and do not wait for its pipes either.
            _, cancelled = await run_shielded(self._abandon)
            if cancelled is not None and cancelled is not exc:
                raise cancelled
            return
        await self.aclose()

    async def _abandon(self) -> None:
        """Kill the process if it runs, give its exit a moment to arrive, close everything.

        Bounded (about :data:`_REAP_SECONDS` at worst) and never waits for the pipes: for
        a process nobody will read any more (a cancelled start, a failed ``async with``).
        """
        try:
            if not self._ops.closed and not self.exited:
                await self._kill_and_reap()
        finally:
            await self._close_handle()

    async def _kill_and_reap(self) -> None:
        """Kill (to its end) and give the exit event a moment to arrive before closing."""
        _, cancelled = await run_shielded(self._kill_and_wait)
        if cancelled is not None:
            raise cancelled

    async def _kill_and_wait(self) -> None:
        try:
            killed = await self.kill()
        except errors.HcsError:
            killed = True  # (it may still be running: its exit event is worth a wait)
        if killed:
            with anyio.move_on_after(_REAP_SECONDS):
                await self._hub.wait()
        # (Not killed: HCS says it has already exited; no event need come.)


# ------------------------------------------------------------------------ entry points


async def open_process(
    system: ProcessParent, command: Command | None = None, **options: Unpack[OpenProcessOptions]
) -> Process:
    """Start ``command`` in ``system``: :meth:`ComputeSystem.open_process` as a function.

    See :meth:`aiohcs.system.ComputeSystem.open_process` for the arguments.
    """
    check_keywords(options, "open_process", ("stdin", "stdout", "stderr"))
    return await Process._create(system, command, options)


async def run_process(
    system: ProcessParent, command: Command | None = None, **options: Unpack[RunProcessOptions]
) -> subprocess.CompletedProcess[bytes]:
    """Run ``command`` to completion: :meth:`ComputeSystem.run_process` as a function."""
    input = options.pop("input", None)
    check = options.pop("check", True)
    stdout = options.pop("stdout", PIPE)
    stderr = options.pop("stderr", PIPE)
    start = functools.partial(Process._create, system, command)
    return await _process_run.run(start, input, check, stdout, stderr, options)


async def stream_process(
    system: ProcessParent,
    command: Command | None,
    write: Callable[[str, bytes], object],
    **options: Unpack[ProcessOptions],
) -> int:
    """Run ``command`` streaming its output: :meth:`ComputeSystem.stream_process` as a function."""
    start = functools.partial(Process._create, system, command)
    return await _process_run.stream(start, write, options)
