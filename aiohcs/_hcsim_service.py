"""hcsim's service mode, Python side: socket paths, connecting a client, running a service.

``aiohcs hcsim serve`` runs the emulator as a service on a Unix socket: C threads of the
extension answer every client with the calling process's own hcsim. A process becomes a
client with :func:`connect` (``AIOHCS_HCSIM=PATH`` does it at the import of the binding);
from then on every HCS call of the process is served by the service.

The default socket is ``$XDG_RUNTIME_DIR/aiohcs/hcsim.sock``, else
``/tmp/aiohcs-<uid>/hcsim.sock``; its folder is created owner-only (0700) and must be owned
by the user, not a symlink and not open to others, or the path is refused.

This module imports the binding only inside its functions: the binding imports it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import stat
import sys
from typing import Any, Final

from aiohcs._hresult import HResult, hresult_name, hresult_u32
from aiohcs.errors import (
    HcsimServiceError,
    HcsimServiceRunning,
    HcsimServiceUnavailable,
    HcsimSocketPathError,
)

__all__ = [
    "ENV",
    "ServiceStatus",
    "check_socket_path",
    "connect",
    "connect_from_environment",
    "default_socket_path",
    "disconnect",
    "environment_socket",
    "query",
    "request_stop",
    "service_socket",
    "start",
    "stop",
    "supported",
    "try_connect",
]

#: The environment variable naming the socket of the service to use (empty: none).
ENV: Final = "AIOHCS_HCSIM"

_SOCKET_NAME: Final = "hcsim.sock"
# sun_path is 108 bytes on Linux and 104 on the BSDs and macOS, with its NUL.
_SUN_PATH_MAX: Final = 108 if sys.platform.startswith("linux") else 104

_ALREADY_EXISTS: Final = int(HResult.ERROR_ALREADY_EXISTS)
_NOT_AVAILABLE: Final = int(HResult.HCS_E_SERVICE_NOT_AVAILABLE)
_NOT_ACTIVE: Final = int(HResult.ERROR_SERVICE_NOT_ACTIVE)

#: The socket this process is a client of (set by :func:`connect`).
_connected: str | None = None
#: False in processes that must not connect at import (``aiohcs hcsim serve|status|stop``).
auto_connect = True


def how_to_start(path: str) -> str:
    """The hint that says how to start a service on ``path``."""
    return f"start one with 'aiohcs hcsim serve --socket {path}'"


# ---------------------------------------------------------------- paths


def environment_socket() -> str | None:
    """The socket ``AIOHCS_HCSIM`` names, or None (unset or empty)."""
    return os.environ.get(ENV) or None


def default_socket_path(*, create: bool = False) -> str:
    """The default socket: ``$XDG_RUNTIME_DIR/aiohcs/hcsim.sock``, else a per-user folder.

    With ``create`` the folder is made (0700) if missing. An existing folder must belong to
    this user, must not be a symlink and must not be open to group or others
    (:class:`HcsimSocketPathError` otherwise).
    """
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime) and os.path.isdir(runtime):
        folder = os.path.join(runtime, "aiohcs")
    else:
        folder = os.path.join("/tmp", f"aiohcs-{os.getuid()}")
    path = os.path.join(folder, _SOCKET_NAME)
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder, 0o700)
    _check_private_folder(folder, path)
    return path


def _check_private_folder(folder: str, path: str) -> None:
    try:
        info = os.lstat(folder)
    except FileNotFoundError:
        return  # nothing there yet: no service, and nobody else's socket
    problem = None
    if stat.S_ISLNK(info.st_mode):
        problem = "is a symlink"
    elif not stat.S_ISDIR(info.st_mode):
        problem = "is not a folder"
    elif info.st_uid != os.getuid():
        problem = f"belongs to uid {info.st_uid}, not to this user ({os.getuid()})"
    elif info.st_mode & 0o077:
        problem = f"is open to other users (mode {stat.S_IMODE(info.st_mode):04o}, not 0700)"
    if problem is not None:
        raise HcsimSocketPathError(
            f"refusing the hcsim socket folder {folder}: it {problem}; remove it or give "
            f"another socket with --socket or {ENV}",
            socket=path,
        )


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


# ---------------------------------------------------------------- the control calls


def _control() -> Any:
    """hcsim's control functions with the service mode, or :class:`HcsimServiceError`."""
    from aiohcs import _native

    if _native.hcsim is None or not hasattr(_native.hcsim, "HcsimConnect"):
        raise HcsimServiceError(
            "this aiohcs has no hcsim service mode (it needs the emulator build, POSIX)",
            socket="",
        )
    return _native.hcsim


def _failed(hr: int) -> bool:
    return bool(hresult_u32(hr) & 0x80000000)


def _why(hr: int) -> str:
    code = hresult_u32(hr)
    if code == int(HResult.E_ACCESSDENIED):
        return "it refused this user (E_ACCESSDENIED)"
    if code == int(HResult.HCS_E_PROTOCOL_ERROR):
        return "it speaks another protocol version or comes from another aiohcs build"
    if code in (_NOT_AVAILABLE, _NOT_ACTIVE):
        return "no service is running there"
    return f"{hresult_name(code)} (0x{code:08X})"


def _unavailable(path: str, hr: int, *, origin: str = "") -> HcsimServiceUnavailable:
    hint = how_to_start(path)
    if hresult_u32(hr) not in (_NOT_AVAILABLE, _NOT_ACTIVE):
        hint = "check it with 'aiohcs hcsim status --socket " + path + "'"
    return HcsimServiceUnavailable(
        f"cannot use the hcsim service at {path}{origin}: {_why(hr)}; {hint}",
        socket=path,
        hresult=hresult_u32(hr),
    )


def connect(path: str, *, origin: str = "") -> None:
    """Make this process a client of the service at ``path`` (:class:`HcsimServiceUnavailable`).

    Every HCS call from now on is served by that service. ``origin`` says in errors where
    the path came from (e.g. ``" (AIOHCS_HCSIM)"``).
    """
    global _connected
    path = check_socket_path(path)
    hr = _control().HcsimConnect(os.fsencode(path))
    if _failed(hr):
        raise _unavailable(path, hr, origin=origin)
    _connected = path


def try_connect(path: str) -> bool:
    """Connect to ``path`` if a service answers there; False (in-process) if none does."""
    try:
        connect(path)
    except HcsimServiceUnavailable as exc:
        if exc.hresult in (_NOT_AVAILABLE, _NOT_ACTIVE):
            return False
        raise
    return True


def connect_from_environment(control: Any) -> None:
    """At the import of the binding: connect to ``$AIOHCS_HCSIM`` if it names a socket."""
    path = environment_socket()
    if path is None or not auto_connect or control is None or _connected is not None:
        return
    connect(path, origin=f" ({ENV})")


def supported() -> bool:
    """True if this build has hcsim's service mode (the emulator build, POSIX)."""
    try:
        _control()
    except (ImportError, HcsimServiceError):
        return False
    return True


def service_socket() -> str | None:
    """The socket of the service this process is a client of, or None (in-process hcsim).

    Still the socket after the service went away: the process stays its client, and its
    calls fail with ServiceDisconnected.
    """
    return _connected


def disconnect() -> None:
    """Back to in-process hcsim (the handles of the service's objects are disconnected)."""
    global _connected
    if _connected is not None:
        _control().HcsimDisconnect()
        _connected = None


# ---------------------------------------------------------------- running a service


def start(path: str, group_id: int | None = None) -> None:
    """Start the service on ``path`` in this process (threads of the extension)."""
    path = check_socket_path(path)
    if _connected is not None:
        raise HcsimServiceError(
            f"this process is a client of the hcsim service at {_connected}: it cannot "
            "serve one itself",
            socket=path,
        )
    hr = _control().HcsimServiceStart(os.fsencode(path), -1 if group_id is None else group_id)
    if hresult_u32(hr) == _ALREADY_EXISTS:
        raise HcsimServiceRunning(
            f"an hcsim service is already running at {path} "
            f"('aiohcs hcsim status --socket {path}' shows it)",
            socket=path,
            hresult=hr,
        )
    if _failed(hr):
        raise HcsimServiceError(
            f"cannot serve hcsim at {path}: {_why(hr)}", socket=path, hresult=hresult_u32(hr)
        )


def stop() -> None:
    """Stop the service started in this process (clients get STOPPING; its systems reset)."""
    _control().HcsimServiceStop()


@dataclasses.dataclass(frozen=True)
class ServiceStatus:
    """What a service says about itself (``aiohcs hcsim status``)."""

    socket: str
    process_id: int
    clients: int
    systems: int
    version: int
    uptime_ms: int

    def to_dict(self) -> dict[str, Any]:
        """The status as a JSON-ready document (the names of ``--json``)."""
        return {
            "Socket": self.socket,
            "ProcessId": self.process_id,
            "Clients": self.clients,
            "Systems": self.systems,
            "ProtocolVersion": self.version,
            "UptimeMs": self.uptime_ms,
        }


def query(path: str) -> ServiceStatus:
    """The status of the service at ``path`` (:class:`HcsimServiceUnavailable` if none)."""
    from aiohcs._native import ffi

    path = check_socket_path(path)
    control = _control()
    status = ffi.new("HCSIM_SERVICE_STATUS *")
    hr = control.HcsimServiceQuery(os.fsencode(path), status)
    if _failed(hr):
        raise _unavailable(path, hr)
    return ServiceStatus(
        socket=path,
        process_id=int(status.ProcessId),
        clients=int(status.Clients),
        systems=int(status.Systems),
        version=int(status.Version),
        uptime_ms=int(status.UptimeMs),
    )


def request_stop(path: str) -> None:
    """Ask the service at ``path`` to stop (:class:`HcsimServiceUnavailable` if none)."""
    path = check_socket_path(path)
    hr = _control().HcsimServiceRequestStop(os.fsencode(path))
    if _failed(hr):
        raise _unavailable(path, hr)
