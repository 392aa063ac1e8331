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
serialises signals per system handle and a kill must not queue behind them (semantics.md
§8.3).

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
import os
import signal
import subprocess
import warnings
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal, TypeAlias, TypedDict

import anyio
import anyio.lowlevel

from aiohcs import errors
from aiohcs._args import check_text
from aiohcs._bridge import close_process_handles, current_bridge, resource_error, run_sync
from aiohcs._cmdline import join_windows
from aiohcs._documents import coerce_document, document_text, parse_model
from aiohcs._handle import (
    GENERIC_ALL,
    PROCESS,
    HandleKind,
    HandleOwner,
    PendingHandle,
    open_system,
    run_shielded,
    using_handle,
)
from aiohcs._native import ffi, lib, to_wide
from aiohcs._pipes import (
    PipeReceiveStream,
    PipeSendStream,
    RawPipe,
    receive_stream,
    resolve_engine,
    send_stream,
)
from aiohcs.events import EventStream, ProcessExited
from aiohcs.operation import HandleClosedError, run_operation
from aiohcs.system import _DRAIN_TIMEOUT

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Unpack

    from aiohcs._bridge import ProcessInfo
    from aiohcs.schema import ProcessParameters, ProcessStatus
    from aiohcs.system import ComputeSystem

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

#: Ask for a pipe (the default for every stream).
PIPE: Final = subprocess.PIPE
#: No pipe: the process gets no stream (what it then reads/writes is up to the guest).
DEVNULL: Final = subprocess.DEVNULL
#: Seconds :meth:`Process.wait` waits, after the exit, for the output pipes to close.
DRAIN_TIMEOUT: Final = _DRAIN_TIMEOUT
#: The ProcessSignal names Windows guests accept.
WINDOWS_SIGNALS: Final = ("CtrlC", "CtrlBreak", "CtrlClose", "CtrlLogOff", "CtrlShutdown")
#: Linux signal numbers by name (the guest's numbers, whatever the host's are).
LINUX_SIGNALS: Final[Mapping[str, int]] = {
    "HUP": 1,
    "INT": 2,
    "QUIT": 3,
    "ILL": 4,
    "TRAP": 5,
    "ABRT": 6,
    "BUS": 7,
    "FPE": 8,
    "KILL": 9,
    "USR1": 10,
    "SEGV": 11,
    "USR2": 12,
    "PIPE": 13,
    "ALRM": 14,
    "TERM": 15,
    "STKFLT": 16,
    "CHLD": 17,
    "CONT": 18,
    "STOP": 19,
    "TSTP": 20,
    "TTIN": 21,
    "TTOU": 22,
    "URG": 23,
    "XCPU": 24,
    "XFSZ": 25,
    "VTALRM": 26,
    "PROF": 27,
    "WINCH": 28,
    "IO": 29,
    "PWR": 30,
    "SYS": 31,
}
# The highest Linux signal number (SIGRTMAX).
_LINUX_SIGNAL_MAX: Final = 64
# POSIX signal numbers a Windows guest can take, as hcsshim maps them.
_WINDOWS_FROM_POSIX: Final = {int(signal.SIGINT): "CtrlC", int(signal.SIGTERM): "CtrlShutdown"}

# How long a kill on the way out waits for the exit event before the handle is closed.
_REAP_SECONDS: Final = 2.0
# How long run_process/stream_process go on reading, once the drain grace period ran out,
# what is already in pipes a background child keeps open.
_SWEEP_SECONDS: Final = 0.1
# How long a refused terminate/kill waits for an exit in progress before it raises.
_CONFIRM_SECONDS: Final = 1.0
#: Errors that mean "the process (or its system) is already gone", whatever the call.
#: (ERROR_ACCESS_DENIED is not one of them: a terminate of a dead process may return it,
#: semantics.md §8.3, so terminate and kill check the process before they take it so;
#: for any other call it is a plain error.)
_GONE: Final = (
    errors.ProcessAlreadyStopped,
    errors.ProcessNotFound,
    errors.SystemAlreadyStopped,
    errors.SystemNotFound,
)

CompletedProcess = subprocess.CompletedProcess
#: A command: one command line, or the arguments (str or path-like) of one program.
Command: TypeAlias = str | Sequence[str | os.PathLike[str]]
GuestOs = Literal["Linux", "Windows"]


class PipesNotClosed(RuntimeWarning):
    """A process exited but its output pipes stayed open past the grace period.

    Something in the guest (a background child) still holds them. The exit was reported
    anyway; output written later can still be read from the streams.
    """


class ProcessFailed(subprocess.CalledProcessError):
    """``run_process(check=True)``: the process exited with a non-zero code.

    ``returncode``, ``cmd``, ``stdout`` and ``stderr`` as in ``CalledProcessError``.
    """


# ------------------------------------------------------------------------ signals


def _linux_signal_name(name: str) -> str:
    upper = name.upper()
    return upper[3:] if upper.startswith("SIG") else upper


def _check_signal(sig: object) -> None:
    """Refuse what is a signal for no guest (before the guest OS is looked up)."""
    if isinstance(sig, bool) or not isinstance(sig, (int, str)):
        raise errors.InvalidArgumentTypeError(
            f"a signal is an int or a name, not {type(sig).__name__}"
        )
    if isinstance(sig, str):
        if sig not in WINDOWS_SIGNALS and _linux_signal_name(sig) not in LINUX_SIGNALS:
            raise errors.InvalidArgumentError(f"unknown signal name {sig!r}")
    elif not 1 <= sig <= _LINUX_SIGNAL_MAX:
        raise errors.InvalidArgumentError(f"signal numbers are 1 to {_LINUX_SIGNAL_MAX}, not {sig}")


def _signal_for(sig: int | str, guest: GuestOs) -> int | str:
    """The SignalProcessOptions.Signal value for ``sig`` on ``guest`` (checked first)."""
    value: int | str | None
    if guest == "Linux":
        value = int(sig) if isinstance(sig, int) else LINUX_SIGNALS.get(_linux_signal_name(sig))
        wanted = "a signal number or a POSIX name"
    elif isinstance(sig, str):
        value = str(sig) if sig in WINDOWS_SIGNALS else None
        wanted = f"one of {WINDOWS_SIGNALS}"
    else:
        value = _WINDOWS_FROM_POSIX.get(int(sig))
        wanted = f"one of {WINDOWS_SIGNALS} (or SIGINT, SIGTERM: no other number)"
    if value is None:
        raise errors.InvalidArgumentError(f"{guest} guests take {wanted}, not {sig!r}")
    return value


# ------------------------------------------------------------------------ guest OS

_guest_os: weakref.WeakKeyDictionary[ComputeSystem, GuestOs] = weakref.WeakKeyDictionary()


async def detect_guest_os(system: ComputeSystem) -> GuestOs:
    """Return the guest OS of ``system`` from its Properties.RuntimeOsType.

    A system that reports no RuntimeOsType is taken for Windows — a guess, asked again
    next time (only a reported value is remembered). Pass ``guest_os=`` to
    ``open_process`` (and friends) where that guess would be wrong.
    """
    cached = _guest_os.get(system)
    if cached is not None:
        return cached
    value = (await system.properties()).runtime_os_type
    if value is None:
        return "Windows"
    text = str(getattr(value, "value", value))
    result: GuestOs = "Linux" if text.lower() == "linux" else "Windows"
    _guest_os[system] = result
    return result


def _check_guest_os(value: object) -> GuestOs | None:
    if value is None or value == "Linux" or value == "Windows":
        return value
    raise errors.InvalidArgumentError(f"guest_os is 'Linux', 'Windows' or None, not {value!r}")


# ------------------------------------------------------------------------ parameters


def _check_drain_timeout(value: object) -> float:
    """Seconds to wait for the pipes after the exit: a number >= 0 (``math.inf``: no limit)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise errors.InvalidArgumentTypeError(
            f"drain_timeout is a number of seconds (math.inf for no limit), not {value!r}"
        )
    if not value >= 0:  # (NaN too)
        raise errors.InvalidArgumentError(f"drain_timeout must be >= 0, not {value!r}")
    return float(value)


def _wants_pipe(value: object, name: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool) or not isinstance(value, int):
        raise errors.InvalidArgumentTypeError(
            f"{name} must be PIPE, DEVNULL or None, not {type(value).__name__}"
        )
    if value == PIPE:
        return True
    if value == DEVNULL:
        return False
    raise errors.InvalidArgumentError(
        f"{name} must be PIPE, DEVNULL or None, not {value} (HCS cannot take other files)"
    )


def _check_engine(value: object) -> str:
    """The pipe engine ``pipe_engine=`` names ("fd", "thread"; None: the default)."""
    if value is not None and not isinstance(value, str):
        raise errors.InvalidArgumentTypeError(
            f"pipe_engine is 'fd', 'thread' or None, not {type(value).__name__}"
        )
    try:
        return resolve_engine(value)
    except ValueError as exc:
        raise errors.InvalidArgumentError(str(exc)) from None


def _text(value: object, what: str, *, path: bool = False) -> str:
    """``value`` as a string for a document, or a TypeError/InvalidArgumentError naming it."""
    if path and isinstance(value, os.PathLike):
        value = os.fspath(value)
    return check_text(value, what, expected="str or os.PathLike[str]" if path else "str")


def _check_pid(value: object) -> int:
    """A process id for HcsOpenProcess: an int (not a bool) from 0 to 2**32 - 1."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise errors.InvalidArgumentTypeError(f"pid must be an int, not {type(value).__name__}")
    if not 0 <= value <= 0xFFFFFFFF:
        raise errors.InvalidArgumentError(f"pid must be from 0 to 4294967295, not {value}")
    return int(value)


def _size(value: object, what: str) -> int:
    """A console dimension: an int (not a bool); its range is checked by the schema model."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise errors.InvalidArgumentTypeError(f"{what} must be an int, not {type(value).__name__}")
    return int(value)


def _command(command: Command) -> str | list[str]:
    """Check ``command``: a command line (str) or a non-empty sequence of arguments."""
    raw: object = command
    if isinstance(raw, str):
        if not raw:
            raise errors.InvalidArgumentError("the command is empty")
        return _text(raw, "command")
    if isinstance(raw, (bytes, bytearray)):
        raise errors.InvalidArgumentTypeError("command must be str or a sequence of str, not bytes")
    if isinstance(raw, Mapping) or not isinstance(raw, Iterable):
        raise errors.InvalidArgumentTypeError(
            f"command must be str or a sequence of str, not {type(raw).__name__}"
        )
    argv = [_text(arg, f"command[{i}]", path=True) for i, arg in enumerate(raw)]
    if not argv:
        raise errors.InvalidArgumentError("the command is empty")
    return argv


def _parameters_without_command(
    *,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    cwd: str | os.PathLike[str] | None,
    env: Mapping[str, str] | None,
    user: str | None,
    console: tuple[int, int] | None,
) -> ProcessParameters:
    """Build and validate everything of the ProcessParameters but the command."""
    params: dict[str, Any] = {}
    if cwd is not None:
        params["WorkingDirectory"] = _text(cwd, "cwd", path=True)
    if env is not None:
        if not isinstance(env, Mapping):
            raise errors.InvalidArgumentTypeError(
                f"env must be a mapping of str to str, not {type(env).__name__}"
            )
        params["Environment"] = {
            _text(key, "env keys"): _text(value, f"env[{key!r}]") for key, value in env.items()
        }
    if user is not None:
        params["User"] = _text(user, "user")
    if console is not None:
        pair: object = console
        if not isinstance(pair, Sequence) or len(pair) != 2:
            raise errors.InvalidArgumentTypeError("console must be a (height, width) pair")
        params["EmulateConsole"] = True
        params["ConsoleSize"] = [_size(pair[0], "console height"), _size(pair[1], "width")]
        stderr = False  # HCS ignores the stderr pipe with a console
    params["CreateStdInPipe"] = stdin
    params["CreateStdOutPipe"] = stdout
    params["CreateStdErrPipe"] = stderr
    document: ProcessParameters = coerce_document(
        params, "ProcessParameters", argument="process parameters"
    )
    return document


def _complete_parameters(
    parameters: object, *, stdin: bool, stdout: bool, stderr: bool
) -> ProcessParameters:
    """A copy of a complete ProcessParameters document (validated), with the pipes set."""
    if parameters is None:
        raise errors.InvalidArgumentTypeError(
            "parameters must be a ProcessParameters model, a mapping or JSON text"
        )
    given: ProcessParameters = coerce_document(
        parameters, "ProcessParameters", argument="parameters"
    )
    # Too deep (or a NUL in a string): refused before the copy, which would recurse.
    document_text(given, "ProcessParameters", argument="parameters")
    params = given.model_copy(deep=True)  # (the caller's model is not changed)
    params.create_std_in_pipe = stdin
    params.create_std_out_pipe = stdout
    params.create_std_err_pipe = stderr and not params.emulate_console
    return params


def _set_command(params: ProcessParameters, command: str | list[str], guest: GuestOs) -> None:
    if isinstance(command, str):
        params.command_line = command
    elif guest == "Linux":
        params.command_args = command
    else:
        params.command_line = join_windows(command)


def build_process_parameters(
    command: Command,
    guest: GuestOs,
    *,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    user: str | None = None,
    console: tuple[int, int] | None = None,
) -> ProcessParameters:
    """Return the validated :class:`aiohcs.schema.ProcessParameters` for a command.

    (See :meth:`ComputeSystem.open_process <aiohcs.system.ComputeSystem.open_process>`.)
    Wrong types raise ``TypeError``; values the schema refuses (a console size outside
    0 to 65535, ...) raise :class:`~aiohcs.errors.InvalidDocumentError` naming the member.
    """
    checked = _command(command)
    params = _parameters_without_command(
        stdin=stdin, stdout=stdout, stderr=stderr, cwd=cwd, env=env, user=user, console=console
    )
    _set_command(params, checked, guest)
    return params


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
        system: ComputeSystem,
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
        cls,
        system: ComputeSystem,
        command: Command | None,
        *,
        stdin: int | None,
        stdout: int | None,
        stderr: int | None,
        cwd: str | os.PathLike[str] | None,
        env: Mapping[str, str] | None,
        user: str | None,
        console: tuple[int, int] | None,
        pipe_engine: str | None,
        drain_timeout: float,
        guest_os: GuestOs | None,
        parameters: Any,
    ) -> Process:
        drain_timeout = _check_drain_timeout(drain_timeout)
        engine = _check_engine(pipe_engine)
        await current_bridge().admit()  # (a burst of creates begins a few per loop turn)
        want = (
            _wants_pipe(stdin, "stdin"),
            _wants_pipe(stdout, "stdout"),
            _wants_pipe(stderr, "stderr"),
        )
        guest = _check_guest_os(guest_os)
        # Everything is checked (and the document validated) before any HCS call.
        if parameters is not None:
            building: dict[str, object] = {
                "command": command,
                "cwd": cwd,
                "env": env,
                "user": user,
                "console": console,
            }
            clash = [name for name, value in building.items() if value is not None]
            if clash:
                raise errors.InvalidArgumentError(
                    f"parameters= is a complete ProcessParameters document: "
                    f"pass no {', '.join(clash)} with it"
                )
            params = _complete_parameters(parameters, stdin=want[0], stdout=want[1], stderr=want[2])
            args: Any = params
        else:
            if command is None:
                raise errors.InvalidArgumentTypeError(
                    "a command (or a ProcessParameters document as parameters=)"
                )
            checked = _command(command)
            params = _parameters_without_command(
                stdin=want[0],
                stdout=want[1],
                stderr=want[2],
                cwd=cwd,
                env=env,
                user=user,
                console=console,
            )
            if guest is None and not isinstance(checked, str):
                guest = await detect_guest_os(system)
            _set_command(params, checked, guest or "Windows")
            args = command
        # (The document checks too: a given document nested too deep, a NUL in a string.)
        argument = "parameters" if parameters is not None else None
        w_params = to_wide(document_text(params, "ProcessParameters", argument=argument))
        sys_handle = system._require_handle()
        async with PendingHandle(PROCESS, current_bridge()) as pending:

            def start(op: Any) -> int:
                hr: int = lib.HcsCreateProcess(sys_handle, w_params, op, ffi.NULL, pending.out)
                if hr >= 0:
                    # Registered before the process can run: its exit cannot be missed.
                    pending.register()
                return hr

            async def create() -> ProcessInfo | None:
                info: ProcessInfo | None = None
                try:
                    result = await run_operation(
                        start,
                        operation="CreateProcess",
                        system_id=system.id,
                        process_info=True,
                        owner=system._ops,
                    )
                    info = result.process_info
                except errors.HcsError as exc:
                    if pending.handle is None:
                        raise
                    # WS2022 quirk (semantics §8.2): the wait can fail spuriously although
                    # the process exists; its information tells.
                    info = await _recover_process_info(pending.handle, system.id, exc)
                if pending.callback_hr < 0 or info is None:
                    # It runs, but cannot be watched (or its pipes are unknown): stop it.
                    close_process_handles(info)
                    await _terminate_unwatched(pending.handle, system.id)
                    return None
                return info

            # Creating a process is quick, and a half-created one must not leak: it runs
            # to its end whatever cancels the caller (native asyncio cancellation too).
            info, cancelled = await run_shielded(create)
            if info is None:
                if cancelled is not None:
                    raise cancelled
                pending.check_registered(system_id=system.id)
                raise errors.error_from_hresult(
                    0x8037011D, operation="CreateProcess", system_id=system.id
                )
        proc = cls(system, pending, info.process_id, args, guest, drain_timeout)
        try:
            proc._attach_pipes(info, engine)
        except BaseException:
            await run_shielded(proc._abandon)  # no pipes: stop it, close the handle
            raise
        if cancelled is not None:
            # Cancelled while it was being created: it is killed and closed, never left.
            await run_shielded(proc._abandon)
            raise cancelled
        # HCS hands out the process handle while the process may already be running, so
        # it can exit before the callback is registered (events are not replayed).
        await proc._check_missed_exit(shield=True, on_failure=proc._abandon)
        return proc

    def _attach_pipes(self, info: ProcessInfo, engine: str) -> None:
        """Wrap the pipe handles in streams; on failure none is left open.

        The caller then stops the process. Out of descriptors or memory:
        :class:`~aiohcs.errors.ResourceExhausted`.
        """
        raws = [RawPipe.from_handle(h) for h in (info.std_input, info.std_output, info.std_error)]
        try:
            if raws[0] is not None:
                self.stdin = send_stream(raws[0], engine, after_close=self._stdin_closed)
            if raws[1] is not None:
                self.stdout = receive_stream(raws[1], engine)
            if raws[2] is not None:
                self.stderr = receive_stream(raws[2], engine)
        except BaseException as exc:
            streams = (self.stdin, self.stdout, self.stderr)
            self.stdin = self.stdout = self.stderr = None
            for raw, stream in zip(raws, streams, strict=True):
                if stream is not None:
                    stream.discard()  # (closes its pipe, or has its pump thread close it)
                elif raw is not None:
                    raw.close()
            # Out of descriptors, memory or threads (a pump of the thread engine).
            typed = resource_error(
                exc, operation="CreateProcess", system_id=self._system_id, process_id=self.pid
            )
            if typed is not None:
                raise typed from exc
            raise

    @classmethod
    async def open(
        cls,
        system: ComputeSystem,
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
        pid = _check_pid(pid)
        drain_timeout = _check_drain_timeout(drain_timeout)
        guest = _check_guest_os(guest_os)
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
        another terminate and ``Exited`` is not true yet (semantics.md §8.3): the exit event
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
        (:data:`WINDOWS_SIGNALS`); SIGINT and SIGTERM map to CtrlC and CtrlShutdown. A
        signal that is no such thing raises ``TypeError`` or
        :class:`~aiohcs.errors.InvalidArgumentError` before anything reaches HCS.
        """
        _check_signal(sig)
        value = _signal_for(sig, await self._guest_os())
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
        w_id, w_namespace = to_wide(self._system_id), to_wide(self._namespace)
        pid = self.pid

        def open_both() -> tuple[int, Any, Any]:
            out_s = ffi.new("HCS_SYSTEM *")
            hr = open_system(w_id, w_namespace, out_s)
            if hr < 0:
                return hr, None, None
            out_p = ffi.new("HCS_PROCESS *")
            hr = lib.HcsOpenProcess(out_s[0], pid, GENERIC_ALL, out_p)
            if hr < 0:
                lib.HcsCloseComputeSystem(out_s[0])
                return hr, None, None
            return hr, out_s[0], out_p[0]

        def close_both(sys_h: Any, proc_h: Any) -> None:
            lib.HcsCloseProcess(proc_h)
            lib.HcsCloseComputeSystem(sys_h)

        def discard(opened: tuple[int, Any, Any]) -> None:
            if opened[0] >= 0:
                close_both(opened[1], opened[2])

        # Cancelled meanwhile: the handles it opened are closed (discard), never lost.
        hr, sys_h, proc_h = await run_sync(open_both, discard=discard)
        if hr < 0:
            error = errors.error_from_hresult(
                hr, operation="TerminateProcess", system_id=self._system_id, process_id=pid
            )
            if isinstance(error, _GONE):
                return False
            if isinstance(error, errors.AccessDenied):
                return await self._confirm_exited(error)
            raise error
        try:

            def start(op: Any) -> int:
                result: int = lib.HcsTerminateProcess(proc_h, op, ffi.NULL)
                return result

            await run_operation(
                start, operation="TerminateProcess", system_id=self._system_id, process_id=pid
            )
        except _GONE:
            return False
        except errors.AccessDenied as exc:
            # Asked through the fresh handle: it works after aclose(wait=False) too.
            query = functools.partial(_process_status, proc_h, self._system_id, pid)
            return await self._confirm_exited(exc, query)
        finally:
            with anyio.CancelScope(shield=True):
                await run_sync(close_both, sys_h, proc_h)
        return True

    async def resize_console(self, height: int, width: int) -> None:
        """Change the console size of a process started with ``console=``.

        Sizes outside 0 to 65535 raise :class:`~aiohcs.errors.InvalidDocumentError`.
        """
        size = {"Height": _size(height, "height"), "Width": _size(width, "width")}
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
        return _parse_status(document)

    async def _stdin_closed(self) -> None:
        # After our handle is closed: HCS's own copy (Windows guests relay stdin) too.
        if self.exited or self._ops.closed:
            return
        from aiohcs.schema import CloseHandle, ModifyOperation, ProcessModifyRequest, StdHandle

        request = ProcessModifyRequest(
            operation=ModifyOperation.CLOSE_HANDLE,
            close_handle=CloseHandle(handle=StdHandle.STD_IN),
        )
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
        outputs = [(name, s) for name, s in (("stdout", self.stdout), ("stderr", self.stderr))]
        pending = [name for name, s in outputs if s is not None and not s.output_complete()]
        if not pending:
            return
        deadline = anyio.current_time() + self._drain_timeout
        delay = 0.001
        while pending:
            remaining = deadline - anyio.current_time()
            if remaining <= 0:
                self.pipes_not_closed = tuple(pending)
                warnings.warn(
                    PipesNotClosed(
                        f"process {self.pid} in {self._system_id!r} exited but its "
                        f"{' and '.join(pending)} stayed open for {self._drain_timeout} s"
                    ),
                    stacklevel=3,
                )
                return
            await anyio.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.05)
            pending = [name for name, s in outputs if s is not None and not s.output_complete()]

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


def _parse_status(document: str | None) -> ProcessStatus:
    status: ProcessStatus | None = parse_model(document, "ProcessStatus")
    if status is None:
        from aiohcs.schema import ProcessStatus

        status = ProcessStatus()
    return status


async def _process_status(handle: Any, system_id: str, pid: int) -> ProcessStatus:
    """The ProcessStatus of the process behind ``handle`` (one the caller owns)."""

    def start(op: Any) -> int:
        hr: int = lib.HcsGetProcessProperties(handle, op, ffi.NULL)
        return hr

    result = await run_operation(
        start, operation="GetProcessProperties", system_id=system_id, process_id=pid
    )
    return _parse_status(result.document)


async def _terminate_unwatched(handle: Any, system_id: str) -> None:
    """Terminate a just-created process that is given up (best effort)."""

    def start(op: Any) -> int:
        hr: int = lib.HcsTerminateProcess(handle, op, ffi.NULL)
        return hr

    with contextlib.suppress(errors.HcsError):
        await run_operation(start, operation="TerminateProcess", system_id=system_id, cleanup=True)


async def _recover_process_info(handle: Any, system_id: str, error: Exception) -> ProcessInfo:
    """Ask a process handle for its information after a failed create; re-raise ``error``."""

    def start(op: Any) -> int:
        hr: int = lib.HcsGetProcessInfo(handle, op)
        return hr

    try:
        result = await run_operation(
            start, operation="GetProcessInfo", system_id=system_id, process_info=True
        )
    except errors.HcsError:
        result = None
    if result is None or result.process_info is None:
        # It may run (e.g. only its pipe handles could not be made): never leave it.
        await _terminate_unwatched(handle, system_id)
        raise error from None
    return result.process_info


# ------------------------------------------------------------------------ entry points


class ProcessOptions(TypedDict, total=False):
    """Keywords every way of starting a process takes (see :func:`open_process`)."""

    cwd: str | os.PathLike[str] | None
    env: Mapping[str, str] | None
    user: str | None
    console: tuple[int, int] | None
    pipe_engine: str | None
    drain_timeout: float
    guest_os: GuestOs | None
    parameters: Any


class OpenProcessOptions(ProcessOptions, total=False):
    """The keywords of :func:`open_process`."""

    stdin: int | None
    stdout: int | None
    stderr: int | None


class RunProcessOptions(ProcessOptions, total=False):
    """The keywords of :func:`run_process`."""

    input: bytes | bytearray | memoryview | None
    check: bool
    stdout: int | None
    stderr: int | None


async def open_process(
    system: ComputeSystem, command: Command | None = None, **options: Unpack[OpenProcessOptions]
) -> Process:
    """Start ``command`` in ``system``: :meth:`ComputeSystem.open_process` as a function.

    See :meth:`aiohcs.system.ComputeSystem.open_process` for the arguments.
    """
    return await system.open_process(command, **options)


async def run_process(
    system: ComputeSystem, command: Command | None = None, **options: Unpack[RunProcessOptions]
) -> subprocess.CompletedProcess[bytes]:
    """Run ``command`` to completion: :meth:`ComputeSystem.run_process` as a function."""
    return await system.run_process(command, **options)


async def stream_process(
    system: ComputeSystem,
    command: Command | None,
    write: Callable[[str, bytes], object],
    **options: Unpack[ProcessOptions],
) -> int:
    """Run ``command`` streaming its output: :meth:`ComputeSystem.stream_process` as a function."""
    return await system.stream_process(command, write, **options)


def _check_options(options: Mapping[str, object], function: str, extra: Iterable[str] = ()) -> None:
    """Refuse keywords ``function`` does not take (a TypeError naming it, before anything)."""
    known = ProcessOptions.__optional_keys__ | frozenset(extra)
    unknown = sorted(set(options) - known)
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        raise errors.InvalidArgumentTypeError(
            f"{function}() got unexpected keyword arguments: {names}"
        )


def _check_input(value: object) -> bytes | bytearray | memoryview | None:
    if value is None or isinstance(value, (bytes, bytearray, memoryview)):
        return value
    hint = " (encode text first)" if isinstance(value, str) else ""
    raise errors.InvalidArgumentTypeError(
        f"input must be bytes or None, not {type(value).__name__}{hint}"
    )


def _check_flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise errors.InvalidArgumentTypeError(f"{name} must be True or False, not {value!r}")
    return value


async def collect_output(
    proc: Process,
    readers: Mapping[str, Callable[[bytes], object]],
    feed: Callable[[], Awaitable[None]] | None = None,
) -> int:
    """Pump the output streams into ``readers``, wait for the exit, return its code.

    The drain rule of :meth:`Process.wait` holds: once the process has exited and its
    output pipes stayed open past ``drain_timeout`` (a background child holds them), the
    reading stops with what was read so far (``wait()`` warns PipesNotClosed). ``feed``
    (writing stdin) stops at the exit: the process reads no more. An error of a reader,
    of a sink or of ``feed`` is raised as it is (never wrapped in an exception group).
    (Shared by :func:`run_process`, :func:`stream_process` and the CLI's ``exec``.)
    """
    streams = {"stdout": proc.stdout, "stderr": proc.stderr}
    failures: list[Exception] = []
    code: int | None = None

    async def pump(stream: PipeReceiveStream, sink: Callable[[bytes], object]) -> None:
        with contextlib.suppress(anyio.EndOfStream):
            while True:
                sink(await stream.receive())

    async with anyio.create_task_group() as tg:

        async def guarded(job: Callable[[], Awaitable[None]], scope: anyio.CancelScope) -> None:
            try:
                with scope:
                    await job()
            except Exception as exc:
                failures.append(exc)
                tg.cancel_scope.cancel()

        for name, sink in readers.items():
            stream = streams[name]
            if stream is not None:
                tg.start_soon(guarded, functools.partial(pump, stream, sink), anyio.CancelScope())
        feeding = anyio.CancelScope()
        if feed is not None:
            tg.start_soon(guarded, feed, feeding)
        code = await proc.wait()
        feeding.cancel()
        if proc.pipes_not_closed:
            # Whatever is already in the pipes is read during a short sweep (a cancelled
            # receive consumes nothing: what comes later stays in the pipe).
            tg.cancel_scope.deadline = anyio.current_time() + _SWEEP_SECONDS
    if failures:
        raise failures[0]
    assert code is not None
    return code


async def _run(
    system: ComputeSystem,
    command: Command | None,
    input: bytes | bytearray | memoryview | None,
    check: bool,
    stdout: int | None,
    stderr: int | None,
    options: ProcessOptions,
) -> subprocess.CompletedProcess[bytes]:
    """The body of ``system.run_process``."""
    _check_options(options, "run_process")
    data = _check_input(input)
    _check_flag(check, "check")
    stdin = PIPE if data is not None else None
    proc = await system.open_process(command, stdin=stdin, stdout=stdout, stderr=stderr, **options)
    chunks: dict[str, list[bytes]] = {"stdout": [], "stderr": []}
    async with proc:
        feed = None
        if proc.stdin is not None and data is not None:
            sending, payload = proc.stdin, data

            async def feed() -> None:
                with contextlib.suppress(anyio.BrokenResourceError):
                    await sending.send(payload)
                await sending.aclose()

        code = await collect_output(
            proc, {name: parts.append for name, parts in chunks.items()}, feed
        )
    out = b"".join(chunks["stdout"]) if proc.stdout is not None else None
    err = b"".join(chunks["stderr"]) if proc.stderr is not None else None
    if check and code != 0:
        raise ProcessFailed(code, proc.args, out, err)
    return subprocess.CompletedProcess(proc.args, code, out, err)


async def _stream(
    system: ComputeSystem,
    command: Command | None,
    write: Callable[[str, bytes], object],
    options: ProcessOptions,
) -> int:
    """The body of ``system.stream_process``."""
    _check_options(options, "stream_process", ("stdout", "stderr"))
    if not callable(write):
        raise errors.InvalidArgumentTypeError(
            f"write must be a callable (name, chunk), not {type(write).__name__}"
        )
    proc = await system.open_process(command, stdin=None, **options)
    async with proc:
        return await collect_output(
            proc, {name: functools.partial(write, name) for name in ("stdout", "stderr")}
        )
