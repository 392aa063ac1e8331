"""Hyper-V sockets on hcsim: Unix sockets at the paths hcsim maps (system, service) to.

hcsim gives every running system a private directory (its processes find it in
``HCSIM_HVSOCKET_DIR``): a guest program listens on ``<service id>.g`` there and the host
connects to it; the host listens on ``<service id>.h`` and a guest program connects to it.
The guest side is :mod:`aiohcs._hvsocket_guest`. The host asks hcsim for the path
(``HcsimHvSocketPath``), which applies the system's HvSocket configuration (hcsim/README.md,
"Hyper-V sockets"); in service mode the service answers, and the path is the service's
(both run on one machine).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import uuid
from typing import Final

import anyio
import anyio.abc
import anyio.lowlevel

from aiohcs._bridge import run_sync
from aiohcs._hresult import HResult
from aiohcs._hvsocket_guest import (
    NO_UNIX_SOCKETS,
    connect_unix_or_refused,
    listening_unix_socket,
    refuse_without_unix_sockets,
)
from aiohcs._native import hcsim, new_document_ptr, take_document, to_wide
from aiohcs.errors import error_from_hresult

# HCSIM_HVSOCKET_ENDPOINT (hcsim.cdef)
_GUEST_LISTENER: Final = 0
_HOST_LISTENER: Final = 1


async def _path(vm_id: uuid.UUID, service_id: uuid.UUID, endpoint: int) -> str:
    """The path of ``service_id``'s endpoint in the system ``vm_id``, as hcsim maps it."""
    w_vm, w_service = to_wide(str(vm_id)), to_wide(str(service_id))

    def call() -> tuple[int, str | None]:
        pp = new_document_ptr()
        hr: int = hcsim.HcsimHvSocketPath(w_vm, w_service, endpoint, pp)
        return hr, take_document(pp)

    hr, path = await run_sync(call)  # runs to its end, shielded; nothing to release
    if hr < 0:
        code = hr & 0xFFFFFFFF
        direction = "connect to" if endpoint == _GUEST_LISTENER else "listen for"
        if code == HResult.E_ACCESSDENIED:
            raise PermissionError(
                errno.EACCES,
                f"the HvSocket configuration of VM {vm_id} does not let the host "
                f"{direction} service {service_id}",
            ) from error_from_hresult(hr, operation="HcsimHvSocketPath", system_id=str(vm_id))
        if code == HResult.E_NOTIMPL:
            raise NotImplementedError(NO_UNIX_SOCKETS)
        raise error_from_hresult(
            hr, f"no Hyper-V socket to {direction} service {service_id}", system_id=str(vm_id)
        )
    await anyio.lowlevel.checkpoint_if_cancelled()
    assert path is not None
    return path


async def connect(vm_id: uuid.UUID, service_id: uuid.UUID) -> anyio.abc.ByteStream:
    """Connect the host to ``service_id``'s guest listener in the system ``vm_id``."""
    refuse_without_unix_sockets()
    path = await _path(vm_id, service_id, _GUEST_LISTENER)
    return await connect_unix_or_refused(path, f"service {service_id} in VM {vm_id}")


async def create_listener(vm_id: uuid.UUID, service_id: uuid.UUID) -> anyio.abc.SocketListener:
    """Listen on the host for guest connections to ``service_id`` of the system ``vm_id``."""
    refuse_without_unix_sockets()
    path = await _path(vm_id, service_id, _HOST_LISTENER)
    sock = listening_unix_socket(path, f"service {service_id} of VM {vm_id}")
    try:
        listener = await anyio.abc.SocketListener.from_socket(sock)
    except BaseException:
        sock.close()
        raise
    return _UnlinkingListener(listener, path)


class _UnlinkingListener(anyio.abc.SocketListener):
    """A Unix socket listener that removes its socket file when it closes."""

    def __init__(self, listener: anyio.abc.SocketListener, path: str) -> None:
        self._listener = listener
        self._path = path
        self._inode = os.lstat(path).st_ino

    @property
    def _raw_socket(self) -> socket.socket:
        return self._listener.extra(anyio.abc.SocketAttribute.raw_socket)

    async def accept(self) -> anyio.abc.SocketStream:
        """Wait for the next guest connection and return it."""
        return await self._listener.accept()

    async def aclose(self) -> None:
        """Stop listening and remove the socket file (if it is still this listener's)."""
        with contextlib.suppress(OSError):
            if os.lstat(self._path).st_ino == self._inode:
                os.unlink(self._path)
        await self._listener.aclose()
