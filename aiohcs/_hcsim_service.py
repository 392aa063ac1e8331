"""hcsim's service mode, Python side: the default socket, clients, running a service.

``aiohcs hcsim serve`` runs the emulator as a service on a Unix socket: C threads of the
extension answer every client with the calling process's own hcsim. A process becomes a
client with :func:`connect` (``AIOHCS_HCSIM=PATH`` does it at the import of the binding,
:mod:`aiohcs._hcsim_client`); from then on every HCS call of the process is served there.

The default socket is ``$XDG_RUNTIME_DIR/aiohcs/hcsim.sock``, else
``/tmp/aiohcs-<uid>/hcsim.sock``; its folder is created owner-only (0700) and must be owned
by the user, not a symlink and not open to others, or the path is refused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import stat
from typing import Any, Final

from aiohcs import _hcsim_client as client
from aiohcs._hcsim_client import (
    ENV,
    check_socket_path,
    environment_socket,
    failed,
    service_socket,
    unavailable,
    why,
)
from aiohcs._hresult import HResult, hresult_u32
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

_SOCKET_NAME: Final = "hcsim.sock"
_ALREADY_EXISTS: Final = int(HResult.ERROR_ALREADY_EXISTS)
_BAD_LOCK_FILE: Final = 0x80070021  # ERROR_LOCK_VIOLATION: "<path>.lock" is not a plain file


# ---------------------------------------------------------------- the default socket


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
        folder = os.path.join("/tmp", f"aiohcs-{_uid()}")
    path = os.path.join(folder, _SOCKET_NAME)
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder, 0o700)
    _check_private_folder(folder, path)
    return path


def _uid() -> int:
    getuid = getattr(os, "getuid", None)  # (POSIX only)
    return int(getuid()) if getuid is not None else 0


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
    elif info.st_uid != _uid():
        problem = f"belongs to uid {info.st_uid}, not to this user ({_uid()})"
    elif info.st_mode & 0o077:
        problem = f"is open to other users (mode {stat.S_IMODE(info.st_mode):04o}, not 0700)"
    if problem is not None:
        raise HcsimSocketPathError(
            f"refusing the hcsim socket folder {folder}: it {problem}; remove it or give "
            f"another socket with --socket or {ENV}",
            socket=path,
        )


# ---------------------------------------------------------------- clients


def _control() -> Any:
    """hcsim's control functions with the service mode, or :class:`HcsimServiceError`."""
    from aiohcs import _native

    if _native.hcsim is None or not hasattr(_native.hcsim, "HcsimConnect"):
        raise HcsimServiceError(
            "this aiohcs has no hcsim service mode (it needs the emulator build, POSIX)",
            socket="",
        )
    return _native.hcsim


def supported() -> bool:
    """True if this build has hcsim's service mode (the emulator build, POSIX)."""
    try:
        _control()
    except (ImportError, HcsimServiceError):
        return False
    return True


def connect(path: str, *, origin: str = "") -> None:
    """Make this process a client of the service at ``path`` (:class:`HcsimServiceUnavailable`).

    Every HCS call from now on is served by that service.
    """
    client.connect(_control(), path, origin=origin)


def try_connect(path: str) -> bool:
    """Connect to ``path`` if a service answers there; False (in-process) if none does."""
    try:
        connect(path)
    except HcsimServiceUnavailable as exc:
        if exc.hresult in client.NOT_RUNNING:
            return False
        raise
    return True


def disconnect() -> None:
    """Back to in-process hcsim (the handles of the service's objects are disconnected)."""
    if service_socket() is not None:
        _control().HcsimDisconnect()
        client.forget()


# ---------------------------------------------------------------- running a service


def start(path: str, group_id: int | None = None) -> None:
    """Start the service on ``path`` in this process (threads of the extension)."""
    path = check_socket_path(path)
    if service_socket() is not None:
        raise HcsimServiceError(
            f"this process is a client of the hcsim service at {service_socket()}: it cannot "
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
    code = hresult_u32(hr)
    reason = why(hr)
    if code == client.NOT_A_SOCKET:
        reason = (
            f"{path} exists and is not a socket; it is not removed: "
            "choose another path or remove it"
        )
    elif code == _BAD_LOCK_FILE:
        reason = (
            f"its lock file {path}.lock is a symlink or not a regular file; it is not "
            "followed nor removed: remove it or choose another path"
        )
    if failed(hr):
        raise HcsimServiceError(
            f"cannot serve hcsim at {path}: {reason}", socket=path, hresult=code
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
    if failed(hr):
        raise unavailable(path, hr)
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
    if failed(hr):
        raise unavailable(path, hr)
