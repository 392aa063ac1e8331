"""Hyper-V sockets: byte streams between the host and the guests of compute systems.

An address is a VM (partition) id and a service id, both GUIDs (:class:`HvSocketAddress`);
the well-known VM ids and the vsock port mapping are those of the SDK's ``hvsocket.h``.
A :class:`~aiohcs.system.ComputeSystem` has both host calls for its own guest:
``connect_hvsocket(service_id)`` and ``create_hvsocket_listener(service_id)``.
On Windows the streams are ``socket.AF_HYPERV`` sockets (CPython 3.12 or later; older
versions raise :class:`NotImplementedError` naming the requirement). On hcsim they are Unix
sockets (Windows CPython has no AF_UNIX: loopback TCP sockets whose ports are in files) at
paths hcsim maps from (system RuntimeId, service id); a program running inside an emulated
system uses :func:`guest_listener` and :func:`guest_connect` (hcsim/README.md, "Hyper-V
sockets").

The system configuration's HvSocket service table decides which services exist. The
schema's ``HvSocketServiceConfig`` has no typed ``Disabled`` member, but its models keep extra
fields: a disabled service is an entry ``{"Disabled": true}``, which survives
``builders.hv_socket_config`` and a JSON round trip; hcsim refuses it both ways::

    from aiohcs.schema import HvSocketServiceConfig, builders

    hv_socket = builders.hv_socket_config(
        services={
            str(DISABLED_ID): HvSocketServiceConfig.model_validate({"Disabled": True}),
            str(SERVICE_ID): None,  # allowed, with the default security descriptors
        }
    )
    vm = builders.uefi_vm(vhd_path=disk, hv_socket=hv_socket)

Errors: a service that the system's HvSocket configuration disables or denies raises
:class:`PermissionError` (Windows: WSAEACCES); nobody listening raises
:class:`ConnectionRefusedError`; a system that does not exist or has stopped raises
:class:`~aiohcs.errors.SystemNotFound`, one that is not running
:class:`~aiohcs.errors.InvalidState`; bad GUIDs raise
:class:`~aiohcs.errors.InvalidArgumentError` before anything happens.
"""

from __future__ import annotations

import socket
import uuid
from typing import TYPE_CHECKING, Any

import anyio.abc

from aiohcs import _hvsocket_guest, _hvsocket_ids
from aiohcs._args import check_guid
from aiohcs._hvsocket_ids import *  # noqa: F403 (its __all__ is public here too)
from aiohcs._hvsocket_ids import HV_GUID_CHILDREN, HV_GUID_WILDCARD, HvSocketAddress

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from types import ModuleType

__all__ = [
    "HVSOCKET_DIR_ENV",
    "connect_hvsocket",
    "create_hvsocket_listener",
    "guest_connect",
    "guest_listener",
]
__all__ += _hvsocket_ids.__all__  # (the ids, HvSocketAddress and the vsock port mapping)

#: hcsim: the environment variable naming a system's Hyper-V socket directory, set in
#: every process hcsim starts in it.
HVSOCKET_DIR_ENV = _hvsocket_guest.HVSOCKET_DIR_ENV

#: VM ids a host listener may take that name no single system.
_ANY_VM = (HV_GUID_WILDCARD, HV_GUID_CHILDREN)


def _host() -> tuple[bool, ModuleType]:
    """Whether HCS is hcsim, and the host side's transport module.

    Imported on first use, so that a guest program importing this module for
    :func:`guest_listener` / :func:`guest_connect` loads no native binding.
    """
    from aiohcs._native import IS_EMULATOR

    if IS_EMULATOR:
        from aiohcs import _hvsocket_hcsim as hcsim_transport

        return True, hcsim_transport
    from aiohcs import _hvsocket_windows as windows_transport

    return False, windows_transport


async def connect_hvsocket(
    vm_id: uuid.UUID | str, service_id: uuid.UUID | str
) -> anyio.abc.ByteStream:
    """Connect from the host to ``service_id`` in the VM ``vm_id`` (its RuntimeId).

    Returns a connected byte stream (close it, or use it as an async context manager).
    Cancelling the call closes whatever it had opened. Raises :class:`PermissionError`
    when the system's HvSocket configuration refuses the service and
    :class:`ConnectionRefusedError` when nobody listens for it.
    """
    return await _connect(HvSocketAddress(vm_id, service_id), None)


async def create_hvsocket_listener(
    vm_id: uuid.UUID | str, service_id: uuid.UUID | str
) -> anyio.abc.SocketListener:
    """Listen on the host for connections to ``service_id`` from the VM ``vm_id``.

    ``vm_id`` is a VM's RuntimeId, or on Windows :data:`HV_GUID_WILDCARD` /
    :data:`HV_GUID_CHILDREN` for every VM (hcsim maps only a single system's id). The
    listener (an ``anyio.abc.Listener[ByteStream]``, a socket listener) gives a byte stream
    per guest connection (``await listener.accept()`` or ``listener.serve(handler)``);
    close it with ``aclose`` (or ``async with``). One listener per service: a second one
    raises :class:`OSError` EADDRINUSE. Raises :class:`PermissionError` when the system's
    HvSocket configuration does not let the host bind the service.
    """
    return await _listen(HvSocketAddress(vm_id, service_id), None)


async def _connect(address: HvSocketAddress, system_id: str | None) -> anyio.abc.ByteStream:
    """Connect to ``address``; ``system_id`` (when known) is what errors name the VM by."""
    _, transport = _host()
    stream: anyio.abc.ByteStream = await transport.connect(*address, system_id)
    return stream


async def _listen(address: HvSocketAddress, system_id: str | None) -> anyio.abc.SocketListener:
    """Listen at ``address``; ``system_id`` (when known) is what errors name the VM by."""
    emulated, transport = _host()
    if emulated and address.vm_id in _ANY_VM:
        raise NotImplementedError(
            "hcsim maps the Hyper-V sockets of one system: listen with its RuntimeId"
        )
    listener: anyio.abc.SocketListener = await transport.create_listener(*address, system_id)
    return listener


# (The system methods pass their bound ``properties`` and id: this module does not import
# aiohcs.system, which imports it.)
async def _system_address(
    properties: Callable[[], Awaitable[Any]], system_id: str, service_id: uuid.UUID | str
) -> HvSocketAddress:
    """The address of ``service_id`` in a system's guest (the VM id is its RuntimeId)."""
    sid = check_guid(service_id, "service_id")
    runtime_id = (await properties()).runtime_id or system_id
    return HvSocketAddress(check_guid(runtime_id, "the system's RuntimeId"), sid)


async def _system_connect(
    properties: Callable[[], Awaitable[Any]], system_id: str, service_id: uuid.UUID | str
) -> anyio.abc.ByteStream:
    """``ComputeSystem.connect_hvsocket``: connect the host to a system's guest."""
    return await _connect(await _system_address(properties, system_id, service_id), system_id)


async def _system_listener(
    properties: Callable[[], Awaitable[Any]], system_id: str, service_id: uuid.UUID | str
) -> anyio.abc.SocketListener:
    """``ComputeSystem.create_hvsocket_listener``: a host listener for a system's guest."""
    return await _listen(await _system_address(properties, system_id, service_id), system_id)


def guest_listener(service_id: uuid.UUID | str) -> socket.socket:
    """A listening socket for ``service_id``, for a program inside an hcsim compute system.

    The host reaches it with :func:`connect_hvsocket`. It is a plain listening
    :class:`socket.socket` (``accept()`` it, or wrap it with
    ``anyio.abc.SocketListener.from_socket``). Raises :class:`RuntimeError` outside an
    emulated system (no ``HCSIM_HVSOCKET_DIR``).
    """
    sid = check_guid(service_id, "service_id")
    return _hvsocket_guest.guest_listener(sid)


async def guest_connect(service_id: uuid.UUID | str) -> anyio.abc.ByteStream:
    """Connect a program inside an hcsim compute system to the host's listener of ``service_id``.

    The host listens with :func:`create_hvsocket_listener`. Raises
    :class:`ConnectionRefusedError` when the host does not listen, :class:`RuntimeError`
    outside an emulated system.
    """
    sid = check_guid(service_id, "service_id")
    return await _hvsocket_guest.guest_connect(sid)
