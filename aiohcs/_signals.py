"""Signal names and numbers for Linux and Windows guests, and the checks of a signal.

:meth:`aiohcs.process.Process.send_signal` takes a signal number or a POSIX name for
Linux guests and a ProcessSignal name for Windows guests; the guest's numbers count, not
the host's. A member of :class:`signal.Signals` stands for its name, because its number is
the host's (Windows' C runtime numbers SIGABRT 22, Linux 6; SIGBREAK exists on Windows
only, and is CtrlBreak for a Windows guest). Pure functions: nothing here calls HCS.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from typing import Final

from aiohcs import errors
from aiohcs._process_options import GuestOs

__all__ = ["LINUX_SIGNALS", "WINDOWS_SIGNALS", "check_signal", "signal_for"]

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
# Host signals (signal.Signals names) that a Windows guest takes by another name.
_HOST_NAMES: Final = {"SIGINT": "CtrlC", "SIGTERM": "CtrlShutdown", "SIGBREAK": "CtrlBreak"}


def _linux_signal_name(name: str) -> str:
    upper = name.upper()
    return upper[3:] if upper.startswith("SIG") else upper


def check_signal(sig: object) -> None:
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


def signal_for(sig: int | str, guest: GuestOs) -> int | str:
    """The SignalProcessOptions.Signal value for ``sig`` on ``guest`` (checked first)."""
    value: int | str | None
    if isinstance(sig, signal.Signals):  # the host's number: by its name
        if guest == "Linux" and _linux_signal_name(sig.name) not in LINUX_SIGNALS:
            raise errors.InvalidArgumentError(f"Linux guests have no {sig.name}")
        sig = sig.name if guest == "Linux" else _HOST_NAMES.get(sig.name, sig.name)
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
