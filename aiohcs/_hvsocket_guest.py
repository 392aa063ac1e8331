"""Hyper-V sockets inside an hcsim compute system: what a guest program uses.

hcsim sets ``HCSIM_HVSOCKET_DIR`` in every process it starts in a running system: the
system's private directory, where a guest program listens on ``<service id>.g`` (the host
connects to it) and connects to ``<service id>.h`` (where the host listens). This module
needs neither the native binding nor hcsim, so a guest program stays light.
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

NO_UNIX_SOCKETS: Final = (
    "hcsim's Hyper-V sockets are Unix sockets, and CPython on Windows has no socket.AF_UNIX"
)

#: (CPython on Windows has none: every caller calls refuse_without_unix_sockets first.)
_AF_UNIX: Final[int] = getattr(socket, "AF_UNIX", -1)


def refuse_without_unix_sockets() -> None:
    """Raise NotImplementedError where Python has no Unix sockets (Windows)."""
    if sys.platform == "win32":
        raise NotImplementedError(NO_UNIX_SOCKETS)


def listening_unix_socket(path: str, what: str) -> socket.socket:
    """A non-blocking Unix socket bound to ``path`` and listening (POSIX).

    A socket file there that nobody listens on any more (its listener died) is replaced; a
    live listener stays, and the bind fails with EADDRINUSE, as a second listener of one
    service does on Windows. (Telling the two apart takes a connection attempt, which the
    live listener then sees as a connection closed at once.)
    """
    sock = socket.socket(_AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            sock.bind(path)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or _alive(path):
                raise OSError(errno.EADDRINUSE, f"{what} has a listener already") from None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            sock.bind(path)
        sock.listen()
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _alive(path: str) -> bool:
    """Whether something listens on the Unix socket ``path``."""
    with socket.socket(_AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except (ConnectionRefusedError, FileNotFoundError):
            return False
        except OSError:
            return True
        return True


async def connect_unix_or_refused(path: str, what: str) -> anyio.abc.ByteStream:
    """A stream connected to the Unix socket ``path``; ConnectionRefusedError if nobody listens."""
    try:
        return await anyio.connect_unix(path)
    except (FileNotFoundError, ConnectionRefusedError):
        raise ConnectionRefusedError(errno.ECONNREFUSED, f"nobody listens for {what}") from None


def _guest_path(service_id: uuid.UUID, suffix: str) -> str:
    refuse_without_unix_sockets()
    directory = os.environ.get(HVSOCKET_DIR_ENV)
    if not directory:
        raise RuntimeError(
            f"not inside an hcsim compute system: {HVSOCKET_DIR_ENV} is not set (hcsim sets "
            "it in the processes it starts in a running system)"
        )
    return os.path.join(directory, f"{service_id}{suffix}")


def guest_listener(service_id: uuid.UUID) -> socket.socket:
    """A listening socket for ``service_id``, for a process inside an emulated system."""
    sock = listening_unix_socket(_guest_path(service_id, ".g"), f"service {service_id}")
    sock.setblocking(True)
    return sock


async def guest_connect(service_id: uuid.UUID) -> anyio.abc.ByteStream:
    """Connect a process inside an emulated system to the host's listener of ``service_id``."""
    return await connect_unix_or_refused(
        _guest_path(service_id, ".h"), f"service {service_id} on the host"
    )
