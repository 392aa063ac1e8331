"""The keywords of every way to start a process, written once, and their checks.

:class:`ProcessOptions` (and :class:`OpenProcessOptions`, :class:`RunProcessOptions`)
type the ``**options`` of :func:`aiohcs.process.open_process`,
:func:`~aiohcs.process.run_process`, :func:`~aiohcs.process.stream_process` and of the
:class:`~aiohcs.system.ComputeSystem` methods; :data:`PIPE`, :data:`DEVNULL` and
:data:`DRAIN_TIMEOUT` are their defaults. Each ``check_*`` function checks one keyword's
value (``TypeError`` for a wrong type, :class:`~aiohcs.errors.InvalidArgumentError` for a
wrong value) before anything reaches HCS. Light: no HCS call, no schema model.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Literal, TypeAlias, TypedDict

from aiohcs import errors
from aiohcs._pipes import resolve_engine

__all__ = [
    "DEVNULL",
    "DRAIN_TIMEOUT",
    "PIPE",
    "Command",
    "GuestOs",
    "OpenProcessOptions",
    "ProcessOptions",
    "RunProcessOptions",
    "check_drain_timeout",
    "check_engine",
    "check_flag",
    "check_guest_os",
    "check_input",
    "check_keywords",
    "check_pid",
    "wants_pipe",
]

#: Ask for a pipe (the default for every stream).
PIPE: Final = subprocess.PIPE
#: No pipe: the process gets no stream (what it then reads/writes is up to the guest).
DEVNULL: Final = subprocess.DEVNULL
#: Seconds :meth:`Process.wait` waits, after the exit, for the output pipes to close.
DRAIN_TIMEOUT: Final = 2.0

#: A command: one command line, or the arguments (str or path-like) of one program.
Command: TypeAlias = str | Sequence[str | os.PathLike[str]]
GuestOs = Literal["Linux", "Windows"]


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


#: The keywords that say how to build the ProcessParameters (none with ``parameters=``).
BUILDING_KEYWORDS: Final = ("cwd", "env", "user", "console")
#: The keywords naming the std streams.
STREAM_KEYWORDS: Final = ("stdin", "stdout", "stderr")


def check_keywords(options: Mapping[str, object], function: str, extra: Iterable[str] = ()) -> None:
    """Refuse keywords ``function`` does not take (a TypeError naming it, before anything)."""
    known = ProcessOptions.__optional_keys__ | frozenset(extra)
    unknown = sorted(set(options) - known)
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        raise errors.InvalidArgumentTypeError(
            f"{function}() got unexpected keyword arguments: {names}"
        )


def check_guest_os(value: object) -> GuestOs | None:
    """``guest_os=``: "Linux", "Windows" or None (ask the system)."""
    if value is None or value == "Linux" or value == "Windows":
        return value
    raise errors.InvalidArgumentError(f"guest_os is 'Linux', 'Windows' or None, not {value!r}")


def check_drain_timeout(value: object) -> float:
    """Seconds to wait for the pipes after the exit: a number >= 0 (``math.inf``: no limit)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise errors.InvalidArgumentTypeError(
            f"drain_timeout is a number of seconds (math.inf for no limit), not {value!r}"
        )
    if not value >= 0:  # (NaN too)
        raise errors.InvalidArgumentError(f"drain_timeout must be >= 0, not {value!r}")
    return float(value)


def wants_pipe(value: object, name: str) -> bool:
    """A std stream keyword: True for PIPE, False for DEVNULL or None."""
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


def check_engine(value: object) -> str:
    """The pipe engine ``pipe_engine=`` names ("fd", "thread"; None: the default)."""
    if value is not None and not isinstance(value, str):
        raise errors.InvalidArgumentTypeError(
            f"pipe_engine is 'fd', 'thread' or None, not {type(value).__name__}"
        )
    try:
        return resolve_engine(value)
    except ValueError as exc:
        raise errors.InvalidArgumentError(str(exc)) from None


def check_pid(value: object) -> int:
    """A process id for HcsOpenProcess: an int (not a bool) from 0 to 2**32 - 1."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise errors.InvalidArgumentTypeError(f"pid must be an int, not {type(value).__name__}")
    if not 0 <= value <= 0xFFFFFFFF:
        raise errors.InvalidArgumentError(f"pid must be from 0 to 4294967295, not {value}")
    return int(value)


def check_input(value: object) -> bytes | bytearray | memoryview | None:
    """``input=`` of run_process: bytes-like or None."""
    if value is None or isinstance(value, (bytes, bytearray, memoryview)):
        return value
    hint = " (encode text first)" if isinstance(value, str) else ""
    raise errors.InvalidArgumentTypeError(
        f"input must be bytes or None, not {type(value).__name__}{hint}"
    )


def check_flag(value: object, name: str) -> bool:
    """A True/False keyword (``check=``)."""
    if not isinstance(value, bool):
        raise errors.InvalidArgumentTypeError(f"{name} must be True or False, not {value!r}")
    return value
