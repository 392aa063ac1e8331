"""Hyper-V sockets on hcsim: the endpoints, and what a program inside a system uses.

hcsim sets ``HCSIM_HVSOCKET_DIR`` in every process it starts in a running system: the
system's private directory, where a guest program listens on ``<service id>.g`` (the host
connects to it) and connects to ``<service id>.h`` (where the host listens). On POSIX an
endpoint is a Unix socket at that path; on Windows, whose CPython has no AF_UNIX, it is a
loopback TCP socket whose port is written in a file at that path (hcsim/README.md,
"Hyper-V sockets"). This module needs neither the native binding nor hcsim, so a guest
program stays light.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sys
import uuid
from typing import Final

import anyio
import anyio.abc

#: The variable hcsim sets in the environment of every process it starts in a system.
HVSOCKET_DIR_ENV: Final = "HCSIM_HVSOCKET_DIR"

#: Windows: endpoints are port files of loopback TCP sockets (CPython there has no AF_UNIX).
_PORT_FILES: Final = sys.platform == "win32"
_AF_UNIX: Final[int] = getattr(socket, "AF_UNIX", -1)
_LOOPBACK: Final = "127.0.0.1"


def listening_endpoint(path: str, what: str) -> socket.socket:
    """A non-blocking socket listening at the endpoint ``path``.

    An endpoint there that nobody listens on any more (its listener died) is replaced; a
    live one stays, and this fails with EADDRINUSE, as a second listener of one service
    does on Windows. (Telling the two apart takes a connection attempt, which the live
    listener then sees as a connection closed at once.)
    """
    if os.path.lexists(path) and _alive(path):
        raise OSError(errno.EADDRINUSE, f"{what} has a listener already")
    if _PORT_FILES:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    else:
        sock = socket.socket(_AF_UNIX, socket.SOCK_STREAM)
    try:
        if _PORT_FILES:
            sock.bind((_LOOPBACK, 0))
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            sock.bind(path)
        sock.listen()
        sock.setblocking(False)
        if _PORT_FILES:
            _write_port(path, sock.getsockname()[1])
    except BaseException:
        sock.close()
        raise
    return sock


def _write_port(path: str, port: int) -> None:
    partial = f"{path}.{os.getpid()}.partial"
    with open(partial, "w", encoding="ascii") as file:
        file.write(str(port))
    os.replace(partial, path)


def _read_port(path: str) -> int:
    with open(path, encoding="ascii") as file:
        return int(file.read())


def _alive(path: str) -> bool:
    """Whether something listens at the endpoint ``path``."""
    try:
        if _PORT_FILES:
            with socket.create_connection((_LOOPBACK, _read_port(path)), timeout=5):
                return True
        with socket.socket(_AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.connect(path)
            return True
    except (ConnectionRefusedError, FileNotFoundError, ValueError):
        return False
    except OSError:
        return True


def endpoint_token(path: str) -> int | None:
    """What identifies the listener at ``path`` now (its socket's inode, or its port)."""
    try:
        return _read_port(path) if _PORT_FILES else os.lstat(path).st_ino
    except (OSError, ValueError):
        return None


def remove_endpoint(path: str, token: int | None) -> None:
    """Remove the endpoint ``path`` if it is still the one ``token`` identified."""
    if token is not None and endpoint_token(path) == token:
        with contextlib.suppress(OSError):
            os.unlink(path)


async def connect_endpoint(path: str, what: str) -> anyio.abc.ByteStream:
    """A stream connected to the endpoint ``path``; ConnectionRefusedError if nobody listens."""
    try:
        if _PORT_FILES:
            try:
                port = _read_port(path)
            except ValueError:
                raise ConnectionRefusedError from None
            return await anyio.connect_tcp(_LOOPBACK, port)
        return await anyio.connect_unix(path)
    except (FileNotFoundError, ConnectionRefusedError):
        raise ConnectionRefusedError(errno.ECONNREFUSED, f"nobody listens for {what}") from None


def _guest_path(service_id: uuid.UUID, suffix: str) -> str:
    directory = os.environ.get(HVSOCKET_DIR_ENV)
    if not directory:
        raise RuntimeError(
            f"not inside an hcsim compute system: {HVSOCKET_DIR_ENV} is not set (hcsim sets "
            "it in the processes it starts in a running system)"
        )
    return os.path.join(directory, f"{service_id}{suffix}")


def guest_listener(service_id: uuid.UUID) -> socket.socket:
    """A listening socket for ``service_id``, for a process inside an emulated system."""
    sock = listening_endpoint(_guest_path(service_id, ".g"), f"service {service_id}")
    sock.setblocking(True)
    return sock


async def guest_connect(service_id: uuid.UUID) -> anyio.abc.ByteStream:
    """Connect a process inside an emulated system to the host's listener of ``service_id``."""
    return await connect_endpoint(
        _guest_path(service_id, ".h"), f"service {service_id} on the host"
    )
