"""hcsim's service mode, the client's side of the binding: connect at import, remember where.

``AIOHCS_HCSIM=PATH`` makes the process a client of the hcsim service there when the binding
(:mod:`aiohcs._native`) is imported, before any call. This module does not import the
binding (the binding imports it); :mod:`aiohcs._hcsim_service` has the rest.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Final

from aiohcs._hresult import HResult, hresult_name, hresult_u32
from aiohcs.errors import HcsimServiceUnavailable, HcsimSocketPathError

__all__ = [
    "ENV",
    "NOT_A_SOCKET",
    "NOT_RUNNING",
    "auto_connect",
    "check_socket_path",
    "connect",
    "connect_from_environment",
    "environment_socket",
    "failed",
    "forget",
    "how_to_start",
    "service_socket",
    "why",
]

#: The environment variable naming the socket of the service to use (empty: none).
ENV: Final = "AIOHCS_HCSIM"

# sun_path is 108 bytes on Linux and 104 on the BSDs and macOS, with its NUL.
_SUN_PATH_MAX: Final = 108 if sys.platform.startswith("linux") else 104

#: The HRESULTs that mean "no service answers there" (a stale socket, or none at all).
NOT_RUNNING: Final = frozenset(
    (int(HResult.HCS_E_SERVICE_NOT_AVAILABLE), int(HResult.ERROR_SERVICE_NOT_ACTIVE))
)

#: The HRESULT for a socket path that exists and is not a socket (a file, a folder, a symlink).
NOT_A_SOCKET: Final = int(HResult.ERROR_FILE_EXISTS)

#: The socket this process is a client of (set by :func:`connect`).
_connected: str | None = None
#: False in processes that must not connect at import (``aiohcs hcsim serve|status|stop``).
auto_connect = True


def how_to_start(path: str) -> str:
    """The hint that says how to start a service on ``path``."""
    return f"start one with 'aiohcs hcsim serve --socket {path}'"


def environment_socket() -> str | None:
    """The socket ``AIOHCS_HCSIM`` names, or None (unset or empty)."""
    return os.environ.get(ENV) or None


def check_socket_path(path: str) -> str:
    """``path`` made absolute, or :class:`HcsimSocketPathError` if no Unix socket can have it."""
    if not path:
        raise HcsimSocketPathError("the hcsim socket path is empty", socket=path)
    absolute = os.path.abspath(path)
    size = len(os.fsencode(absolute))
    if size >= _SUN_PATH_MAX:
        raise HcsimSocketPathError(
            f"the hcsim socket path {absolute} is {size} bytes long; a Unix socket's path "
            f"must be shorter than {_SUN_PATH_MAX}: choose a shorter one",
            socket=absolute,
        )
    return absolute


def failed(hr: int) -> bool:
    """True for a failure HRESULT."""
    return bool(hresult_u32(hr) & 0x80000000)


def why(hr: int) -> str:
    """Why a control call of the service mode failed, in words."""
    code = hresult_u32(hr)
    if code == int(HResult.E_ACCESSDENIED):
        return "it refused this user (E_ACCESSDENIED)"
    if code == int(HResult.HCS_E_PROTOCOL_ERROR):
        return "it speaks another protocol version or comes from another aiohcs build"
    if code in NOT_RUNNING:
        return "no service is running there"
    if code == NOT_A_SOCKET:
        return "it exists and is not a socket"
    return f"{hresult_name(code)} (0x{code:08X})"


def unavailable(path: str, hr: int, *, origin: str = "") -> HcsimServiceUnavailable:
    """The error for a service that cannot be used at ``path``."""
    code = hresult_u32(hr)
    if code in NOT_RUNNING:
        hint = how_to_start(path)
    elif code == int(HResult.E_ACCESSDENIED):
        hint = (
            "the service at that path belongs to another user or group: ask its owner, "
            f"or use your own with --socket or {ENV}"
        )
    elif code == NOT_A_SOCKET:
        hint = "choose another path or remove it"
    else:
        hint = f"check it with 'aiohcs hcsim status --socket {path}'"
    return HcsimServiceUnavailable(
        f"cannot use the hcsim service at {path}{origin}: {why(hr)}; {hint}",
        socket=path,
        hresult=hresult_u32(hr),
    )


def connect(control: Any, path: str, *, origin: str = "") -> None:
    """Make this process a client of the service at ``path`` (``control``: hcsim's functions).

    Every HCS call from now on is served by that service. ``origin`` says in errors where
    the path came from (e.g. ``" (AIOHCS_HCSIM)"``).
    """
    global _connected
    path = check_socket_path(path)
    hr = control.HcsimConnect(os.fsencode(path))
    if failed(hr):
        raise unavailable(path, hr, origin=origin)
    _connected = path


def connect_from_environment(control: Any) -> None:
    """At the import of the binding: connect to ``$AIOHCS_HCSIM`` if it names a socket."""
    path = environment_socket()
    if path is None or not auto_connect or control is None or _connected is not None:
        return
    if not hasattr(control, "HcsimConnect"):
        raise HcsimServiceUnavailable(
            f"{ENV} is set ({path}) but this aiohcs has no hcsim service mode", socket=path
        )
    try:
        connect(control, path, origin=f" ({ENV})")
    except HcsimSocketPathError as exc:  # the documented import error, same words
        raise HcsimServiceUnavailable(str(exc), socket=exc.socket) from exc


def service_socket() -> str | None:
    """The socket of the service this process is a client of, or None (in-process hcsim).

    Still the socket after the service went away: the process stays its client, and its
    calls fail with ServiceDisconnected.
    """
    return _connected


def forget() -> None:
    """This process is no longer a client (after ``HcsimDisconnect``)."""
    global _connected
    _connected = None
