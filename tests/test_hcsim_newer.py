"""hcsim's calls of the newest SDK header, through the binding (``aiohcs._native``).

Operations with notifications (completion and progress events, here through the callback
bridge's C event callback), operation properties and resources, VM-lifecycle events and
a live migration between two systems over a socket pair, with the control API (hidden
exports) and the leak counters of the ``hcsim`` fixture. The SDK's own API over these
calls is tested elsewhere.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from aiohcs import _native, testing

pytestmark = pytest.mark.skipif(
    not _native.IS_EMULATOR or sys.platform == "win32",
    reason="needs the hcsim build on POSIX (socket resources are descriptors)",
)

ffi, lib = _native.ffi, _native.lib

VM = json.dumps({"Owner": "newer", "VirtualMachine": {"GuestConnection": {}}})
SOCKET_URI = "hcs:/VirtualMachine/LiveMigrationSocket"
S_OK = 0
HCS_E_INVALID_STATE = 0x80370105
ERROR_PROC_NOT_FOUND = 0x8007007F
NEW_EXPORTS = (
    "HcsCreateOperationWithNotifications",
    "HcsAddResourceToOperation",
    "HcsGetOperationProperties",
    "HcsInitializeLiveMigrationOnSource",
    "HcsStartLiveMigrationOnSource",
    "HcsStartLiveMigrationTransfer",
    "HcsFinalizeLiveMigration",
    "HcsCancelLiveMigration",
)


def u32(hr: int) -> int:
    return hr & 0xFFFFFFFF


def wait(op: Any) -> tuple[int, str | None]:
    """The operation's HRESULT (unsigned) and result document."""
    pp = _native.new_document_ptr()
    hr = lib.HcsWaitForOperationResult(op, 10000, pp)
    return u32(hr), _native.take_document(pp)


def call(fn: Any, system: Any, options: str | None = None, sock: int = -1) -> int:
    """fn(system, op, options) on a new operation (with sock as its socket resource)."""
    op = lib.HcsCreateOperation(ffi.NULL, ffi.NULL)
    try:
        if sock >= 0:
            hr = lib.HcsAddResourceToOperation(
                op, lib.HcsResourceTypeSocket, _native.to_wide(SOCKET_URI), ffi.cast("HANDLE", sock)
            )
            assert u32(hr) == S_OK
        hr = u32(fn(system, op, _native.to_wide(options)))
        return wait(op)[0] if hr == S_OK else hr
    finally:
        lib.HcsCloseOperation(op)


@contextmanager
def system(system_id: str, *, start: bool) -> Iterator[Any]:
    """A VM (created, started if asked); terminated and closed afterwards."""
    handle = ffi.new("HCS_SYSTEM *")
    op = lib.HcsCreateOperation(ffi.NULL, ffi.NULL)
    hr = lib.HcsCreateComputeSystem(
        _native.to_wide(system_id), _native.to_wide(VM), op, ffi.NULL, handle
    )
    assert u32(hr) == S_OK
    assert wait(op)[0] == S_OK
    lib.HcsCloseOperation(op)
    try:
        if start:
            assert call(lib.HcsStartComputeSystem, handle[0]) == S_OK
        yield handle[0]
    finally:
        call(lib.HcsTerminateComputeSystem, handle[0])
        lib.HcsCloseComputeSystem(handle[0])


class Events:
    """A bridge queue with one registered id: what aiohcs_event_callback delivers for it."""

    def __init__(self) -> None:
        self.read, self.write = socket.socketpair()
        self.read.setblocking(False)
        self.write.setblocking(False)
        self.queue = lib.aiohcs_queue_new(self.write.fileno())
        self.id = lib.aiohcs_register(self.queue, 0)
        self.context = ffi.cast("void *", self.id)
        self.items: list[tuple[int, int, str | None]] = []

    def drain(self, until: int, count: int = 1, timeout: float = 10.0) -> None:
        """Collect items until `count` events of type `until` arrived."""
        deadline = time.monotonic() + timeout
        buf = ffi.new("aiohcs_item[]", 64)
        while sum(1 for t, _, _ in self.items if t == until) < count:
            assert time.monotonic() < deadline, self.items
            n = lib.aiohcs_queue_drain(self.queue, buf, 64)
            for i in range(n):
                item = buf[i]
                payload = ffi.unpack(item.payload, item.payload_length) if item.payload else None
                self.items.append((item.event_type, item.operation, payload))
            lib.aiohcs_items_release(buf, n)
            time.sleep(0.005)

    def payloads(self, event_type: int) -> list[Any]:
        return [json.loads(p) if p else None for t, _, p in self.items if t == event_type]

    def close(self) -> None:
        lib.aiohcs_queue_free(self.queue)
        self.read.close()
        self.write.close()


@pytest.fixture
def events() -> Iterator[Events]:
    ev = Events()
    yield ev
    ev.close()


def test_every_new_export_is_bound_and_hideable() -> None:
    for name in NEW_EXPORTS:
        assert callable(getattr(lib, name))
        assert _native.export_available(name)
        _native.hcsim.HcsimSetExportHidden(name.encode(), True)
        assert not _native.export_available(name)
        _native.hcsim.HcsimSetExportHidden(name.encode(), False)
    with testing.hide_export("HcsGetOperationProperties"):
        op = lib.HcsCreateOperation(ffi.NULL, ffi.NULL)
        pp = _native.new_document_ptr()
        assert u32(lib.HcsGetOperationProperties(op, ffi.NULL, pp)) == ERROR_PROC_NOT_FOUND
        lib.HcsCloseOperation(op)


def test_operation_properties_are_an_operation_info() -> None:
    op = lib.HcsCreateOperation(ffi.NULL, ffi.NULL)
    handle = ffi.new("HCS_SYSTEM *")
    hr = lib.HcsCreateComputeSystem(
        _native.to_wide("newer-props"), _native.to_wide(VM), op, ffi.NULL, handle
    )
    assert u32(hr) == S_OK
    assert wait(op)[0] == S_OK
    pp = _native.new_document_ptr()
    assert u32(lib.HcsGetOperationProperties(op, _native.to_wide(""), pp)) == S_OK
    doc = json.loads(_native.take_document(pp) or "null")
    assert doc["Operation"] == "Construct"
    assert set(doc) == {"Operation", "StartTimestamp", "EndTimestamp"}
    lib.HcsCloseOperation(op)
    call(lib.HcsTerminateComputeSystem, handle[0])
    lib.HcsCloseComputeSystem(handle[0])


def test_notifications_progress_then_completion(events: Events) -> None:
    op = lib.HcsCreateOperationWithNotifications(
        lib.HcsOperationOptionProgressUpdate, events.context, lib.aiohcs_event_callback
    )
    assert op != ffi.NULL
    assert (
        lib.HcsCreateOperationWithNotifications(2, events.context, lib.aiohcs_event_callback)
        == ffi.NULL
    )
    handle = ffi.new("HCS_SYSTEM *")
    with testing.delay("HcsCreateComputeSystem", completion_ms=120):
        hr = lib.HcsCreateComputeSystem(
            _native.to_wide("newer-progress"), _native.to_wide(VM), op, ffi.NULL, handle
        )
        assert u32(hr) == S_OK
        events.drain(lib.HcsEventOperationCallback)
    types = [t for t, _, _ in events.items]
    assert types == [lib.HcsEventGroupOperationInfo] * 3 + [lib.HcsEventOperationCallback]
    assert {o for _, o, _ in events.items} == {int(ffi.cast("uintptr_t", op))}
    progress = events.payloads(lib.HcsEventGroupOperationInfo)
    assert [p["Progress"]["PercentComplete"] for p in progress] == [25, 50, 75]
    assert {p["Operation"] for p in progress} == {"Construct"}
    lib.HcsCloseOperation(op)
    call(lib.HcsTerminateComputeSystem, handle[0])
    lib.HcsCloseComputeSystem(handle[0])


def test_live_migration_end_to_end(events: Events) -> None:
    with system("newer-src", start=True) as src, system("newer-dst", start=False) as dst:
        options = lib.HcsEventOptionEnableLiveMigrationEvents | lib.HcsEventOptionEnableVmLifecycle
        hr = lib.HcsSetComputeSystemCallback(
            dst, options, events.context, lib.aiohcs_event_callback
        )
        assert u32(hr) == S_OK
        a, b = socket.socketpair()
        with a, b:
            init = lib.HcsInitializeLiveMigrationOnSource
            assert call(init, src, '{"Origin":"Source","MemoryTransport":"TCP"}') == S_OK
            assert call(lib.HcsStartLiveMigrationTransfer, src) == HCS_E_INVALID_STATE
            session = '{"NetworkSettings":{"SessionId":11}}'
            assert call(lib.HcsStartLiveMigrationOnSource, src, session, a.fileno()) == S_OK
            dest = '{"DestinationMigrationOptions":{"NetworkSettings":{"SessionId":11}}}'
            assert call(lib.HcsStartComputeSystem, dst, dest, b.fileno()) == S_OK
        ops = [lib.HcsCreateOperation(ffi.NULL, ffi.NULL) for _ in range(2)]
        for handle, op in zip((src, dst), ops, strict=True):
            assert u32(lib.HcsStartLiveMigrationTransfer(handle, op, ffi.NULL)) == S_OK
        assert [wait(op)[0] for op in ops] == [S_OK, S_OK]
        assert lib.HcsGetOperationType(ops[0]) == lib.HcsOperationTypeLiveMigration
        for op in ops:
            lib.HcsCloseOperation(op)
        resume = '{"Origin":"Destination","FinalizedOperation":"Resume"}'
        assert call(lib.HcsFinalizeLiveMigration, dst, resume) == S_OK
        stop = '{"Origin":"Source","FinalizedOperation":"Stop"}'
        assert call(lib.HcsFinalizeLiveMigration, src, stop) == S_OK
        assert u32(lib.HcsWaitForComputeSystemExit(src, 10000, ffi.NULL)) == S_OK
        events.drain(lib.HcsEventGroupLiveMigration, count=4)
        migration = events.payloads(lib.HcsEventGroupLiveMigration)
        assert [(m["Event"], m.get("Result")) for m in migration] == [
            ("SetupDone", None),
            ("TransferInProgress", None),
            ("BlackoutExited", None),
            ("MigrationDone", "Success"),
        ]
        assert {m["Origin"] for m in migration} == {"Destination"}
        states = [p["State"] for p in events.payloads(lib.HcsEventGroupVmLifecycle)]
        assert states == ["Paused", "Running"]


def test_cancel_reaches_a_transfer_in_progress(events: Events) -> None:
    with system("newer-cancel", start=True) as src:
        options = lib.HcsEventOptionEnableLiveMigrationEvents
        hr = lib.HcsSetComputeSystemCallback(
            src, options, events.context, lib.aiohcs_event_callback
        )
        assert u32(hr) == S_OK
        a, b = socket.socketpair()
        with a, b:
            assert call(lib.HcsInitializeLiveMigrationOnSource, src) == S_OK
            assert call(lib.HcsStartLiveMigrationOnSource, src, "", a.fileno()) == S_OK
            op = lib.HcsCreateOperation(ffi.NULL, ffi.NULL)
            assert u32(lib.HcsStartLiveMigrationTransfer(src, op, ffi.NULL)) == S_OK
            events.drain(lib.HcsEventGroupLiveMigration, count=2)  # SetupDone, TransferInProgress
            assert call(lib.HcsCancelLiveMigration, src, '{"Origin":"Source"}') == S_OK
            assert wait(op)[0] == 0x800704C7  # HRESULT_FROM_WIN32(ERROR_CANCELLED)
            lib.HcsCloseOperation(op)
            # hcsim shut the connection down: whatever had crossed, then the end
            b.settimeout(10)
            received = b""
            while chunk := b.recv(65536):
                received += chunk
            assert b"HCSIMLM1".startswith(received[:8])
            assert call(lib.HcsCancelLiveMigration, src) == HCS_E_INVALID_STATE
