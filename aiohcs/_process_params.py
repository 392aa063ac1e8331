"""The ProcessParameters document of a process start, built and checked in one place.

:func:`check_start` checks every keyword of a start (:mod:`aiohcs._process_options`) and
builds the ProcessParameters document — from a command, or a copy of a complete document
given as ``parameters=`` — validated as its :mod:`aiohcs.schema` model, all before anything
reaches HCS. A sequence command becomes ``CommandArgs`` for Linux guests and a command
line quoted by the ``CommandLineToArgvW`` rules for Windows guests
(:mod:`aiohcs._cmdline`); a single string is passed unchanged as ``CommandLine``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohcs import errors
from aiohcs._args import check_text
from aiohcs._cmdline import join_windows
from aiohcs._documents import coerce_document, document_text
from aiohcs._process_options import (
    BUILDING_KEYWORDS,
    DRAIN_TIMEOUT,
    PIPE,
    STREAM_KEYWORDS,
    Command,
    GuestOs,
    check_drain_timeout,
    check_engine,
    check_guest_os,
    wants_pipe,
)

if TYPE_CHECKING:
    from aiohcs.schema import ProcessParameters

__all__ = ["ProcessStart", "build_process_parameters", "check_size", "check_start"]


def _text(value: object, what: str, *, path: bool = False) -> str:
    """``value`` as a string for a document, or a TypeError/InvalidArgumentError naming it."""
    if path and isinstance(value, os.PathLike):
        value = os.fspath(value)
    return check_text(value, what, expected="str or os.PathLike[str]" if path else "str")


def check_size(value: object, what: str) -> int:
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
        params["ConsoleSize"] = [
            check_size(pair[0], "console height"),
            check_size(pair[1], "width"),
        ]
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


@dataclass(frozen=True)
class ProcessStart:
    """A process start whose every argument is checked: what ``HcsCreateProcess`` gets."""

    #: The ProcessParameters (the command is set by :meth:`document` for sequences).
    params: ProcessParameters
    #: The checked command (None with ``parameters=``).
    command: str | list[str] | None
    #: What :attr:`Process.args <aiohcs.process.Process.args>` reports.
    args: Any
    #: The guest OS ``guest_os=`` names (None: ask the system when it matters).
    guest: GuestOs | None
    #: The pipe engine of the streams.
    engine: str
    #: Seconds to wait for the output pipes after the exit.
    drain_timeout: float

    @property
    def needs_guest_os(self) -> bool:
        """True if the document depends on a guest OS nobody named (a sequence command)."""
        return self.guest is None and isinstance(self.command, list)

    def document(self, guest: GuestOs | None) -> str:
        """The ProcessParameters JSON for ``guest`` (None: taken for Windows)."""
        argument = None
        if self.command is None:
            argument = "parameters"
        else:
            _set_command(self.params, self.command, guest or "Windows")
        # (The document checks too: a given document nested too deep, a NUL in a string.)
        text = document_text(self.params, "ProcessParameters", argument=argument)
        assert text is not None
        return text


def check_start(command: Command | None, options: Mapping[str, Any]) -> ProcessStart:
    """Check a start (``options``: the keywords of ``open_process``, defaults when absent)."""
    drain_timeout = check_drain_timeout(options.get("drain_timeout", DRAIN_TIMEOUT))
    engine = check_engine(options.get("pipe_engine"))
    stdin, stdout, stderr = (wants_pipe(options.get(name, PIPE), name) for name in STREAM_KEYWORDS)
    guest = check_guest_os(options.get("guest_os"))
    parameters = options.get("parameters")
    if parameters is not None:
        clash = [name for name in ("command", *BUILDING_KEYWORDS) if _given(name, command, options)]
        if clash:
            raise errors.InvalidArgumentError(
                f"parameters= is a complete ProcessParameters document: "
                f"pass no {', '.join(clash)} with it"
            )
        params = _complete_parameters(parameters, stdin=stdin, stdout=stdout, stderr=stderr)
        return ProcessStart(params, None, params, guest, engine, drain_timeout)
    if command is None:
        raise errors.InvalidArgumentTypeError(
            "a command (or a ProcessParameters document as parameters=)"
        )
    checked = _command(command)
    params = _parameters_without_command(
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        **{name: options.get(name) for name in BUILDING_KEYWORDS},
    )
    return ProcessStart(params, checked, command, guest, engine, drain_timeout)


def _given(name: str, command: Command | None, options: Mapping[str, Any]) -> bool:
    return (command if name == "command" else options.get(name)) is not None
