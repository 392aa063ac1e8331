"""Hyper-V sockets on hcsim, the host side: the endpoints at the paths hcsim maps to.

hcsim gives every running system a private directory (its processes find it in
``HCSIM_HVSOCKET_DIR``): a guest program listens on ``<service id>.g`` there and the host
connects to it; the host listens on ``<service id>.h`` and a guest program connects to it.
The endpoints (Unix sockets; on Windows port files of loopback TCP sockets) and the guest
side are :mod:`aiohcs._hvsocket_guest`. The host asks hcsim for the path
(``HcsimHvSocketPath``), which applies the system's HvSocket configuration (hcsim/README.md,
"Hyper-V sockets"); in service mode the service answers, and the path is the service's
(both run on one machine).
"""

from __future__ import annotations

import errno
import socket
import uuid
from typing import Final

import anyio
import anyio.abc
import anyio.lowlevel

from aiohcs._bridge import run_sync
from aiohcs._hresult import HResult
from aiohcs._hvsocket_guest import EndpointLock, connect_endpoint, listening_endpoint
from aiohcs._native import hcsim, new_document_ptr, take_document, to_wide
from aiohcs.errors import error_from_hresult

# HCSIM_HVSOCKET_ENDPOINT (hcsim.cdef)
_GUEST_LISTENER: Final = 0
_HOST_LISTENER: Final = 1


def vm_label(vm_id: uuid.UUID, system_id: str | None) -> str:
    """How errors name the VM: by the system's id (and its RuntimeId) when it is known."""
    return f"VM {vm_id}" if system_id is None else f"system {system_id!r} (RuntimeId {vm_id})"


async def _path(
    vm_id: uuid.UUID, service_id: uuid.UUID, endpoint: int, system_id: str | None
) -> str:
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
        named = system_id if system_id is not None else str(vm_id)
        if code == HResult.E_ACCESSDENIED:
            raise PermissionError(
                errno.EACCES,
                f"the HvSocket configuration of {vm_label(vm_id, system_id)} does not let "
                f"the host {direction} service {service_id}",
            ) from error_from_hresult(hr, operation="HcsimHvSocketPath", system_id=named)
        message = f"no Hyper-V socket to {direction} service {service_id}"
        if system_id is not None:
            message += f" (RuntimeId {vm_id})"
        raise error_from_hresult(hr, message, system_id=named)
    await anyio.lowlevel.checkpoint_if_cancelled()
    assert path is not None
    return path


async def connect(
    vm_id: uuid.UUID, service_id: uuid.UUID, system_id: str | None = None
) -> anyio.abc.ByteStream:
    """Connect the host to ``service_id``'s guest listener in the system ``vm_id``.

    ``system_id``, when known, is the system's id that errors name (with ``vm_id``).
    """
    path = await _path(vm_id, service_id, _GUEST_LISTENER, system_id)
    return await connect_endpoint(path, f"service {service_id} in {vm_label(vm_id, system_id)}")


async def create_listener(
    vm_id: uuid.UUID, service_id: uuid.UUID, system_id: str | None = None
) -> anyio.abc.SocketListener:
    """Listen on the host for guest connections to ``service_id`` of the system ``vm_id``."""
    path = await _path(vm_id, service_id, _HOST_LISTENER, system_id)
    what = f"service {service_id} of {vm_label(vm_id, system_id)}"
    sock, lock = listening_endpoint(path, what)
    try:
        listener = await anyio.abc.SocketListener.from_socket(sock)
    except BaseException:
        sock.close()
        lock.release()
        raise
    return _EndpointListener(listener, lock)


class _EndpointListener(anyio.abc.SocketListener):
    """A listener that removes its endpoint (socket or port file) and lock when it closes."""

    def __init__(self, listener: anyio.abc.SocketListener, lock: EndpointLock) -> None:
        self._listener = listener
        self._lock = lock

    @property
    def _raw_socket(self) -> socket.socket:
        return self._listener.extra(anyio.abc.SocketAttribute.raw_socket)

    async def accept(self) -> anyio.abc.SocketStream:
        """Wait for the next guest connection and return it."""
        return await self._listener.accept()

    async def aclose(self) -> None:
        """Stop listening, remove the endpoint and give its lock up."""
        try:
            await self._listener.aclose()
        finally:
            self._lock.release()
