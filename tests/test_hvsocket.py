"""aiohcs.hvsocket: addresses, and host <-> guest streams over hcsim's Hyper-V sockets.

The end-to-end tests run a guest program (tests/hvsocket_guest.py) inside an emulated
system; it listens or connects with aiohcs.hvsocket's guest side, the test with the host
side. They run on every platform: hcsim's endpoints are Unix sockets on POSIX and loopback
TCP sockets with port files on Windows (under Wine too).
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import anyio.lowlevel
import pytest
from helpers import LINUX, SCHEMA, child_env, open_fds, terminate_and_close

from aiohcs import errors, hvsocket
from aiohcs._hvsocket_windows import connect as windows_connect

if TYPE_CHECKING:
    from aiohcs.process import Process
    from aiohcs.system import ComputeSystem

GUEST: Any = str(Path(__file__).resolve().parent / "hvsocket_guest.py")
SERVICE = uuid.UUID("0000abcd-facb-11e6-bd58-64006a7986d3")
DISABLED = uuid.UUID("11111111-2222-3333-4444-555555555555")
NO_BIND = uuid.UUID("22222222-2222-3333-4444-555555555555")

#: A Linux VM whose HvSocket configuration disables DISABLED and lets nobody bind NO_BIND.
CONFIGURED: dict[str, Any] = {
    "SchemaVersion": SCHEMA,
    "Owner": "aiohcs-tests",
    "VirtualMachine": {
        **LINUX["VirtualMachine"],
        "Devices": {
            "HvSocket": {
                "HvSocketConfig": {
                    "ServiceTable": {
                        str(DISABLED): {"Disabled": True},
                        "{" + str(NO_BIND).upper() + "}": {"BindSecurityDescriptor": "D:P"},
                    }
                }
            }
        },
    },
}


def guest_env() -> dict[str, str]:
    """What the guest program needs to import this aiohcs."""
    return {"PYTHONPATH": child_env()["PYTHONPATH"]}


async def runtime_id(system: ComputeSystem) -> str:
    rid = (await system.properties()).runtime_id
    assert rid
    return rid


async def start_guest(system: ComputeSystem, *args: str) -> Process:
    return await system.open_process([sys.executable, GUEST, *args], env=guest_env())


async def read_line(proc: Process) -> bytes:
    assert proc.stdout is not None
    data = b""
    with anyio.fail_after(20):
        while not data.endswith(b"\n"):
            chunk = await proc.stdout.receive()
            data += chunk
    return data


async def system_directory(system: ComputeSystem) -> str:
    """The system's Hyper-V socket directory, as its processes see it."""
    result = await system.run_process([sys.executable, GUEST, "dir"], env=guest_env())
    return result.stdout.decode().strip()


async def receive_line(stream: anyio.abc.ByteStream) -> bytes:
    data = b""
    with anyio.fail_after(10):
        while not data.endswith(b"\n"):
            data += await stream.receive()
    return data


@pytest.fixture
async def configured() -> AsyncIterator[ComputeSystem]:
    from aiohcs.system import ComputeSystem

    system = await ComputeSystem.create("hvsock-config", CONFIGURED)
    try:
        await system.start()
        yield system
    finally:
        await terminate_and_close(system)


# ---- addresses --------------------------------------------------------------------------


def test_well_known_ids_are_hvsocket_h_values() -> None:
    assert uuid.UUID(int=0) == hvsocket.HV_GUID_ZERO
    assert hvsocket.HV_GUID_WILDCARD == hvsocket.HV_GUID_ZERO
    assert uuid.UUID(int=(1 << 128) - 1) == hvsocket.HV_GUID_BROADCAST
    assert str(hvsocket.HV_GUID_CHILDREN) == "90db8b89-0d35-4f79-8ce9-49ea0ac8b7cd"
    assert str(hvsocket.HV_GUID_LOOPBACK) == "e0e16197-dd56-4a10-9195-5ee7a155a838"
    assert str(hvsocket.HV_GUID_PARENT) == "a42e7cda-d03f-480c-9cc2-a4de20abb878"
    assert str(hvsocket.HV_GUID_SILOHOST) == "36bd0c5c-7276-4223-88ba-7d03b654c568"
    assert str(hvsocket.HV_GUID_VSOCK_TEMPLATE) == "00000000-facb-11e6-bd58-64006a7986d3"


def test_vsock_ports_and_service_ids() -> None:
    sid = hvsocket.service_id_from_vsock_port(0x808)
    assert str(sid) == "00000808-facb-11e6-bd58-64006a7986d3"
    assert hvsocket.vsock_port_from_service_id(sid) == 0x808
    assert hvsocket.vsock_port_from_service_id(str(sid).upper()) == 0x808
    assert hvsocket.vsock_port_from_service_id(hvsocket.service_id_from_vsock_port(0)) == 0
    top = hvsocket.service_id_from_vsock_port(0xFFFFFFFF)
    assert hvsocket.vsock_port_from_service_id(top) == 0xFFFFFFFF
    assert hvsocket.vsock_port_from_service_id(hvsocket.HV_GUID_PARENT) is None
    for bad in (-1, 1 << 32):
        with pytest.raises(errors.InvalidArgumentError):
            hvsocket.service_id_from_vsock_port(bad)
    for wrong in (True, 1.0, "5"):
        with pytest.raises(errors.InvalidArgumentTypeError):
            hvsocket.service_id_from_vsock_port(wrong)  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidArgumentError):
        hvsocket.vsock_port_from_service_id("808")


def test_addresses() -> None:
    address = hvsocket.HvSocketAddress(hvsocket.HV_GUID_PARENT, SERVICE)
    assert address.vm_id == hvsocket.HV_GUID_PARENT
    assert address == (hvsocket.HV_GUID_PARENT, SERVICE)
    assert hvsocket.HvSocketAddress(str(hvsocket.HV_GUID_PARENT), f"{{{SERVICE}}}") == address
    text: Any = str(DISABLED)  # (typed as a UUID: _replace is the NamedTuple's)
    assert address._replace(service_id=text).service_id == DISABLED
    assert hvsocket.HvSocketAddress._make([SERVICE, str(SERVICE)]) == (SERVICE, SERVICE)
    assert isinstance(address, tuple)
    assert address._fields == ("vm_id", "service_id")


@pytest.mark.parametrize(
    ("vm_id", "service_id", "error"),
    [
        ("x", "y", errors.InvalidArgumentError),
        (SERVICE, "nope", errors.InvalidArgumentError),
        (1, SERVICE, errors.InvalidArgumentTypeError),
        (SERVICE, None, errors.InvalidArgumentTypeError),
    ],
)
def test_addresses_are_checked(vm_id: Any, service_id: Any, error: type) -> None:
    with pytest.raises(error):
        hvsocket.HvSocketAddress(vm_id, service_id)
    with pytest.raises(error):
        hvsocket.HvSocketAddress._make([vm_id, service_id])
    with pytest.raises(error):
        hvsocket.HvSocketAddress(SERVICE, SERVICE)._replace(vm_id=vm_id, service_id=service_id)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("vm_id", "service_id", "error"),
    [
        ("nope", SERVICE, errors.InvalidArgumentError),
        (uuid.uuid4(), "0000abcd-facb-11e6-bd58-64006a7986d", errors.InvalidArgumentError),
        (uuid.uuid4(), "{" + str(SERVICE), errors.InvalidArgumentError),
        (uuid.uuid4(), str(SERVICE).replace("-", ""), errors.InvalidArgumentError),
        (None, SERVICE, errors.InvalidArgumentTypeError),
        (uuid.uuid4(), SERVICE.int, errors.InvalidArgumentTypeError),
        (uuid.uuid4(), b"0000abcd-facb-11e6-bd58-64006a7986d3", errors.InvalidArgumentTypeError),
    ],
)
async def test_wrong_guids_fail_before_anything(vm_id: Any, service_id: Any, error: type) -> None:
    with pytest.raises(error):
        await hvsocket.connect_hvsocket(vm_id, service_id)
    with pytest.raises(error):
        await hvsocket.create_hvsocket_listener(vm_id, service_id)


@pytest.mark.anyio
async def test_a_system_checks_the_service_id_first(linux: ComputeSystem) -> None:
    with pytest.raises(errors.InvalidArgumentTypeError):
        await linux.connect_hvsocket(42)  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidArgumentError):
        await linux.connect_hvsocket("{not-a-guid}")


@pytest.mark.anyio
async def test_windows_needs_af_hyperv() -> None:
    # On Linux (and CPython < 3.12 on Windows) socket has no AF_HYPERV.
    if hasattr(socket, "AF_HYPERV"):
        pytest.skip("this Python has socket.AF_HYPERV")
    with pytest.raises(NotImplementedError, match=r"Python 3\.12 or later"):
        await windows_connect(hvsocket.HV_GUID_LOOPBACK, SERVICE)


def test_guest_side_outside_an_emulated_system(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(hvsocket.HVSOCKET_DIR_ENV, raising=False)
    with pytest.raises(RuntimeError, match=hvsocket.HVSOCKET_DIR_ENV):
        hvsocket.guest_listener(SERVICE)
    with pytest.raises(RuntimeError):
        anyio.run(hvsocket.guest_connect, SERVICE)
    with pytest.raises(errors.InvalidArgumentError):
        hvsocket.guest_listener("x")


# ---- host <-> guest on hcsim ----------------------------------------------------------------


@pytest.mark.anyio
async def test_host_connects_to_a_guest_listener(linux: ComputeSystem) -> None:
    async with await start_guest(linux, "serve", str(SERVICE)) as proc:
        assert await read_line(proc) == b"listening\n"
        async with await linux.connect_hvsocket(SERVICE) as stream:
            await stream.send(b"ping from the host\n")
            assert await receive_line(stream) == b"guest got: ping from the host\n"
        assert await proc.wait() == 0


async def answer_the_guests_dial(listener: Any, proc: Any) -> None:
    """Accept the guest's 'dial' connection on ``listener``, answer it, and see it exit."""
    with anyio.fail_after(20):
        stream = await listener.accept()
    async with stream:
        assert await receive_line(stream) == b"hello from the guest\n"
        await stream.send(b"hello from the host\n")
    assert await read_line(proc) == b"hello from the host\n"
    assert await proc.wait() == 0


@pytest.mark.anyio
async def test_guest_connects_to_a_host_listener(linux: ComputeSystem) -> None:
    rid = await runtime_id(linux)
    async with (
        await hvsocket.create_hvsocket_listener(rid, str(SERVICE)) as listener,
        await start_guest(linux, "dial", "{" + str(SERVICE).upper() + "}") as proc,
    ):
        await answer_the_guests_dial(listener, proc)


@pytest.mark.anyio
async def test_a_system_listens_for_its_guest(linux: ComputeSystem) -> None:
    async with (
        await linux.create_hvsocket_listener("{" + str(SERVICE).upper() + "}") as listener,
        await start_guest(linux, "dial", str(SERVICE)) as proc,
    ):
        await answer_the_guests_dial(listener, proc)
        with pytest.raises(OSError, match="of system 'linux'") as caught:
            await linux.create_hvsocket_listener(SERVICE)
        assert caught.value.errno == errno.EADDRINUSE
    with pytest.raises(errors.InvalidArgumentTypeError):
        await linux.create_hvsocket_listener(42)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_a_listener_serves_several_guests(linux: ComputeSystem) -> None:
    rid = uuid.UUID(await runtime_id(linux))
    got: list[bytes] = []

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            got.append(await receive_line(stream))
            await stream.send(b"ok\n")

    async with (
        await hvsocket.create_hvsocket_listener(rid, SERVICE) as listener,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(listener.serve, handle)
        for _ in range(2):
            result = await linux.run_process(
                [sys.executable, GUEST, "dial", str(SERVICE)], env=guest_env()
            )
            assert result.stdout == b"ok\n"
        tg.cancel_scope.cancel()
    assert got == [b"hello from the guest\n"] * 2


@pytest.mark.anyio
async def test_nobody_listening_is_connection_refused(linux: ComputeSystem) -> None:
    with pytest.raises(ConnectionRefusedError):
        await linux.connect_hvsocket(SERVICE)
    result = await linux.run_process(
        [sys.executable, GUEST, "dial", str(SERVICE)], env=guest_env(), check=False
    )
    assert result.returncode == 3
    assert result.stderr.startswith(b"ConnectionRefusedError")


@pytest.mark.anyio
async def test_the_configuration_refuses_services(configured: ComputeSystem) -> None:
    rid = await runtime_id(configured)
    with pytest.raises(PermissionError) as caught:
        await configured.connect_hvsocket(DISABLED)
    assert isinstance(caught.value.__cause__, errors.AccessDenied)
    with pytest.raises(PermissionError):
        await hvsocket.create_hvsocket_listener(rid, DISABLED)
    with pytest.raises(PermissionError):
        await hvsocket.create_hvsocket_listener(rid, NO_BIND)
    # NO_BIND's connect rule is the default: allowed, and nobody listens
    with pytest.raises(ConnectionRefusedError):
        await configured.connect_hvsocket(NO_BIND)
    # a service the table does not name is allowed both ways
    async with await hvsocket.create_hvsocket_listener(rid, SERVICE):
        pass


@pytest.mark.anyio
async def test_a_service_disabled_with_the_builder() -> None:
    # the schema's HvSocketServiceConfig has no typed Disabled member: an extra field,
    # kept through the builder and a JSON round trip, and honoured by hcsim
    from aiohcs.schema import HvSocketServiceConfig, VirtualMachine_HvSocket, builders
    from aiohcs.system import ComputeSystem

    disabled = HvSocketServiceConfig.model_validate({"Disabled": True})
    hv_socket = builders.hv_socket_config(services={str(DISABLED): disabled, str(SERVICE): None})
    text = hv_socket.to_json()
    assert VirtualMachine_HvSocket.model_validate_json(text) == hv_socket
    table = json.loads(text)["HvSocketConfig"]["ServiceTable"]
    assert table[str(DISABLED)] == {"Disabled": True}
    config = {**CONFIGURED, "VirtualMachine": {**CONFIGURED["VirtualMachine"]}}
    config["VirtualMachine"]["Devices"] = {"HvSocket": json.loads(text)}
    system = await ComputeSystem.create("hvsock-builder", config)
    try:
        await system.start()
        with pytest.raises(PermissionError, match=f"connect to service {DISABLED}"):
            await system.connect_hvsocket(DISABLED)
        with pytest.raises(ConnectionRefusedError):  # allowed; nobody listens
            await system.connect_hvsocket(SERVICE)
    finally:
        await terminate_and_close(system)


@pytest.mark.anyio
async def test_systems_that_do_not_run(vm: ComputeSystem) -> None:
    with pytest.raises(errors.InvalidState):
        await vm.connect_hvsocket(SERVICE)
    with pytest.raises(errors.SystemNotFound):
        await hvsocket.connect_hvsocket(uuid.uuid4(), SERVICE)
    with pytest.raises(NotImplementedError):
        await hvsocket.create_hvsocket_listener(hvsocket.HV_GUID_WILDCARD, SERVICE)


@pytest.mark.anyio
async def test_a_systems_errors_name_the_system(
    vm: ComputeSystem, configured: ComputeSystem
) -> None:
    with pytest.raises(errors.InvalidState) as not_running:
        await vm.connect_hvsocket(SERVICE)
    assert not_running.value.system_id == vm.id
    assert await runtime_id(vm) in str(not_running.value)
    with pytest.raises(
        PermissionError,
        match=rf"system 'hvsock-config' \(RuntimeId {await runtime_id(configured)}\)",
    ):
        await configured.connect_hvsocket(DISABLED)
    with pytest.raises(ConnectionRefusedError, match="in system 'hvsock-config'"):
        await configured.connect_hvsocket(SERVICE)
    with pytest.raises(PermissionError, match="system 'hvsock-config'"):
        await configured.create_hvsocket_listener(NO_BIND)
    await configured.terminate()
    with pytest.raises(errors.SystemNotFound) as gone:
        await configured.connect_hvsocket(SERVICE)
    assert gone.value.system_id == "hvsock-config"


@pytest.mark.anyio
async def test_everything_goes_with_the_system(linux: ComputeSystem) -> None:
    rid = await runtime_id(linux)
    directory = await system_directory(linux)
    assert directory.endswith(rid)
    assert os.path.isdir(directory)
    listener = await hvsocket.create_hvsocket_listener(rid, SERVICE)
    async with listener:
        lock = [] if sys.platform == "win32" else [f"{SERVICE}.h.lock"]  # (a semaphore)
        assert sorted(os.listdir(directory)) == [f"{SERVICE}.h", *lock]
        await linux.terminate()
        assert not os.path.exists(directory)
        with pytest.raises(errors.SystemNotFound):
            await hvsocket.connect_hvsocket(rid, SERVICE)
    assert not os.path.exists(os.path.dirname(directory)) or not os.listdir(
        os.path.dirname(directory)
    )


@pytest.mark.anyio
async def test_a_closed_listener_removes_its_socket(linux: ComputeSystem) -> None:
    rid = await runtime_id(linux)
    path = os.path.join(await system_directory(linux), f"{SERVICE}.h")
    listener = await hvsocket.create_hvsocket_listener(rid, SERVICE)
    assert os.path.exists(path)
    with pytest.raises(OSError, match="has a listener already"):  # one per service
        await hvsocket.create_hvsocket_listener(rid, SERVICE)
    await listener.aclose()
    assert not os.path.exists(path)
    async with await hvsocket.create_hvsocket_listener(rid, SERVICE):
        assert os.path.exists(path)


@pytest.mark.anyio
async def test_a_refused_second_listener_leaves_the_first_alone(linux: ComputeSystem) -> None:
    # the refusal makes no connection: the first connection the live listener accepts
    # is the guest's
    rid = await runtime_id(linux)
    async with await hvsocket.create_hvsocket_listener(rid, SERVICE) as listener:
        for _ in range(3):
            with pytest.raises(OSError, match="has a listener already") as caught:
                await hvsocket.create_hvsocket_listener(rid, SERVICE)
            assert caught.value.errno == errno.EADDRINUSE
        async with await start_guest(linux, "dial", str(SERVICE)) as proc:
            with anyio.fail_after(20):
                stream = await listener.accept()
            async with stream:
                assert await receive_line(stream) == b"hello from the guest\n"
                await stream.send(b"hi\n")
            assert await proc.wait() == 0


@pytest.mark.anyio
async def test_a_refused_second_guest_listener_leaves_the_first_alone(
    linux: ComputeSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(hvsocket.HVSOCKET_DIR_ENV, await system_directory(linux))
    with hvsocket.guest_listener(SERVICE) as first:
        with pytest.raises(OSError, match="has a listener already"):
            hvsocket.guest_listener(SERVICE)
        first.setblocking(False)
        with pytest.raises(BlockingIOError):  # nothing waits in its backlog
            first.accept()
        async with await linux.connect_hvsocket(SERVICE) as stream:
            await stream.send(b"x")
            conn, _ = first.accept()
            with conn:
                conn.settimeout(10)
                assert conn.recv(1) == b"x"


@pytest.mark.anyio
async def test_a_closed_or_dead_listeners_service_is_taken_over(
    linux: ComputeSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = await system_directory(linux)
    monkeypatch.setenv(hvsocket.HVSOCKET_DIR_ENV, directory)
    kept = hvsocket.guest_listener(SERVICE)
    kept.close()  # closed, still referenced: this process takes its service over
    with hvsocket.guest_listener(SERVICE):
        pass
    # a listener whose process died (it never closed it) holds no lock any more
    async with await start_guest(linux, "serve", str(SERVICE)) as proc:
        assert await read_line(proc) == b"listening\n"
        with pytest.raises(OSError, match="has a listener already"):
            hvsocket.guest_listener(SERVICE)
        await proc.kill()
        await proc.wait()
    with hvsocket.guest_listener(SERVICE):
        async with await linux.connect_hvsocket(SERVICE):
            pass


@pytest.mark.anyio
@pytest.mark.parametrize("steps", [0, 1, 2, 3, 5, 8, 13])
async def test_cancellation_closes_what_it_opened(
    linux: ComputeSystem, steps: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = await runtime_id(linux)
    directory = await system_directory(linux)
    # a guest listener (made here, as the guest would) that never accepts: the
    # connections wait in its backlog
    monkeypatch.setenv(hvsocket.HVSOCKET_DIR_ENV, directory)
    with hvsocket.guest_listener(SERVICE):
        before = open_fds()
        calls: list[Callable[[], Awaitable[anyio.abc.AsyncResource]]] = [
            lambda: hvsocket.connect_hvsocket(rid, SERVICE),
            lambda: linux.connect_hvsocket(SERVICE),
            lambda: hvsocket.create_hvsocket_listener(rid, NO_BIND),
        ]
        for call in calls:
            # cancelled after `steps` scheduling turns, wherever the call is then
            with anyio.CancelScope() as scope:

                async def cancel_later(scope: anyio.CancelScope = scope) -> None:
                    for _ in range(steps):
                        await anyio.lowlevel.checkpoint()
                    scope.cancel()

                async with anyio.create_task_group() as tg:
                    tg.start_soon(cancel_later)
                    opened = await call()
                    await opened.aclose()
                    await anyio.sleep_forever()
        assert open_fds() == before
    assert os.listdir(directory) == []  # the closed guest listener's endpoint went with it
