"""Hyper-V sockets on Windows: ``socket.AF_HYPERV`` (CPython 3.12 and later) as anyio streams."""

from __future__ import annotations

import socket
import sys
import uuid

import anyio
import anyio.abc
import anyio.to_thread


def _family() -> tuple[int, int]:
    """AF_HYPERV and HV_PROTOCOL_RAW, or a NotImplementedError naming the requirement."""
    family = getattr(socket, "AF_HYPERV", None)
    protocol = getattr(socket, "HV_PROTOCOL_RAW", None)
    if family is None or protocol is None:
        raise NotImplementedError(
            "Hyper-V sockets need socket.AF_HYPERV: Python 3.12 or later on Windows "
            f"(this is Python {sys.version_info.major}.{sys.version_info.minor} on "
            f"{sys.platform})"
        )
    return int(family), int(protocol)


def _new_socket() -> socket.socket:
    family, protocol = _family()
    return socket.socket(family, socket.SOCK_STREAM, protocol)


async def connect(
    vm_id: uuid.UUID, service_id: uuid.UUID, system_id: str | None = None
) -> anyio.abc.ByteStream:
    """Connect to ``service_id`` in the partition ``vm_id`` (``system_id``: unused here)."""
    sock = _new_socket()
    try:
        # a blocking connect in a worker thread (it runs to its end; the socket is closed
        # below if the caller was cancelled meanwhile)
        await anyio.to_thread.run_sync(sock.connect, (str(vm_id), str(service_id)))
        sock.setblocking(False)
        return await anyio.abc.SocketStream.from_socket(sock)
    except BaseException:
        sock.close()
        raise


async def create_listener(
    vm_id: uuid.UUID, service_id: uuid.UUID, system_id: str | None = None
) -> anyio.abc.SocketListener:
    """Listen for connections to ``service_id`` from the partition(s) ``vm_id``.

    (``system_id`` is unused here: the socket's own errors name no VM.)
    """
    sock = _new_socket()
    try:
        sock.bind((str(vm_id), str(service_id)))
        sock.listen()
        sock.setblocking(False)
        return await anyio.abc.SocketListener.from_socket(sock)
    except BaseException:
        sock.close()
        raise
