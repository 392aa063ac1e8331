"""HCN notifications: decoding, the C callback's path to the stream, registration and its end.

The first half drives ``aiohcs_hcn_notification_callback`` directly from other threads (as
HCN's threads would) through a stand-in registration, so that ordering, several streams,
cancellation and the unregister race are tested without depending on what hcsim raises;
the second half runs against hcsim's computenetwork (every notification type it raises).
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiohcs import _hcn_notify as hn
from aiohcs import testing
from aiohcs._native import ffi, lib
from aiohcs.errors import HandleClosedError
from aiohcs.events import Event

pytestmark = pytest.mark.anyio

NET = uuid.UUID("0f5a2b6c-0000-4000-8000-000000000001")
EP = uuid.UUID("0f5a2b6c-0000-4000-8000-000000000002")


# ------------------------------------------------------------------------- decoding


@pytest.mark.parametrize(
    ("value", "cls"),
    [
        (1, hn.NetworkPreCreate),
        (2, hn.NetworkCreated),
        (3, hn.NetworkPreDelete),
        (4, hn.NetworkDeleted),
        (5, hn.NamespaceCreated),
        (6, hn.NamespaceDeleted),
        (7, hn.GuestNetworkServiceCreated),
        (8, hn.GuestNetworkServiceDeleted),
        (9, hn.EndpointAttached),
        (0x10, hn.EndpointDetached),
        (0x11, hn.GuestNetworkServiceStateChanged),
        (0x12, hn.GuestNetworkServiceInterfaceStateChanged),
        (0x01000000, hn.ServiceDisconnected),
    ],
)
def test_decode_types(value: int, cls: type[hn.Notification]) -> None:
    n = hn.decode_notification(value, f'{{"ID": "{NET}"}}')
    assert type(n) is cls
    assert n.type == value
    assert n.type.known
    assert isinstance(n.type, hn.NotificationType)
    assert n.id == NET
    assert n.data == {"ID": str(NET)}
    assert n.status == 0
    assert n.ok
    assert isinstance(n, Event)
    assert n.TERMINAL is (cls is hn.ServiceDisconnected)
    assert cls.__name__ in repr(n)


def test_decode_unknown_type_and_failure_status() -> None:
    n = hn.decode_notification(0x77, None, -2147467259)
    assert type(n) is hn.Notification
    assert n.type == 0x77
    assert not n.type.known
    assert n.type.name == "UNKNOWN_0x77"
    assert n.status == 0x80004005
    assert not n.ok
    assert n.id is None
    assert n.data is None
    assert "status=0x80004005" in repr(n)
    # a value beyond 32 bits is masked to the callback's DWORD
    assert hn.decode_notification(0x1_0000_0002, None).type == hn.NotificationType.NETWORK_CREATE


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "not json",
        "[1, 2]",
        '{"ID": 5}',
        '{"ID": "not-a-guid"}',
        '{"NetworkId": "x"}',
    ],
)
def test_decode_lenient(raw: str | None) -> None:
    n = hn.decode_notification(9, raw)
    assert isinstance(n, hn.EndpointAttached)
    assert n.id is None
    assert n.network_id is None
    assert n.raw == raw


def test_decode_ids_any_case_and_braces() -> None:
    raw = f'{{"ID": "{{{str(EP).upper()}}}", "NetworkId": "{str(NET).upper()}"}}'
    n = hn.decode_notification(0x10, raw)
    assert isinstance(n, hn.EndpointDetached)
    assert n.id == EP
    assert n.network_id == NET


def test_notification_type_is_open() -> None:
    assert hn.NotificationType(0x1234) == 0x1234
    with pytest.raises(ValueError, match="not a valid NotificationType"):
        hn.NotificationType(-1)
    with pytest.raises(ValueError, match="not a valid NotificationType"):
        hn.NotificationType(1 << 32)


# ------------------------------------------------------- the C callback, stand-in registration


class FakeService:
    """A stand-in HCN service: registrations, and notifications sent from other threads."""

    def __init__(self, register_hr: int = 0) -> None:
        self.lock = threading.Lock()
        self.contexts: dict[int, Any] = {}
        self.next = 1
        self.register_hr = register_hr
        self.registered = 0
        self.unregistered = 0

    def register(self, target: Any, context: Any) -> tuple[int, Any]:
        if self.register_hr < 0:
            return self.register_hr, ffi.NULL
        with self.lock:
            handle = self.next
            self.next += 1
            self.contexts[handle] = context
            self.registered += 1
        return 0, ffi.cast("void *", handle)

    def unregister(self, handle: Any) -> int:
        # As HCN's: returns once no callback for it is running (the lock).
        with self.lock:
            del self.contexts[int(ffi.cast("uintptr_t", handle))]
            self.unregistered += 1
        return 0

    def send(self, kind: int, data: str | None, status: int = 0) -> None:
        with self.lock:
            for context in self.contexts.values():
                text = ffi.new("char16_t[]", data) if data is not None else ffi.NULL
                lib.aiohcs_hcn_notification_callback(kind, context, status, text)

    def stream(self) -> hn.NotificationStream:
        return hn.NotificationStream(
            self.register, self.unregister, operation="HcnRegisterServiceCallback"
        )

    @property
    def live(self) -> int:
        return len(self.contexts)


def _ids(n: int) -> list[str]:
    return [str(uuid.UUID(int=i + 1)) for i in range(n)]


async def test_order_and_every_stream_gets_everything() -> None:
    svc = FakeService()
    ids = _ids(200)
    async with svc.stream() as a, svc.stream() as b, svc.stream() as c:
        assert svc.live == 3
        assert a.registered

        def send_all() -> None:
            for i, ident in enumerate(ids):
                svc.send(2 if i % 2 else 4, f'{{"ID": "{ident}"}}')
            svc.send(0x01000000, None)

        thread = threading.Thread(target=send_all)
        thread.start()
        for stream in (a, b, c):
            got = [n async for n in stream]
            assert [str(n.id) for n in got[:-1]] == ids
            assert isinstance(got[-1], hn.ServiceDisconnected)
            # after the terminal notification the stream stays ended
            with pytest.raises(StopAsyncIteration):
                await stream.__anext__()
        thread.join()
    assert svc.live == 0
    assert svc.unregistered == 3


async def test_exit_unregisters_and_later_callbacks_are_dropped() -> None:
    svc = FakeService()
    async with svc.stream() as s:
        contexts = list(svc.contexts.values())
        svc.send(2, f'{{"ID": "{NET}"}}')
        first = await s.__anext__()
        assert isinstance(first, hn.NetworkCreated)
    assert not s.registered
    # a late callback for the old context (a stale id) is dropped in C
    before = lib.aiohcs_registered_count()
    lib.aiohcs_hcn_notification_callback(2, contexts[0], 0, ffi.NULL)
    assert lib.aiohcs_registered_count() == before
    with pytest.raises(StopAsyncIteration):
        await s.__anext__()
    await s.aclose()  # idempotent


async def test_failed_registration_raises_typed_and_leaves_nothing() -> None:
    from aiohcs.errors import AccessDenied

    before = lib.aiohcs_registered_count()
    svc = FakeService(register_hr=-2147024891)  # E_ACCESSDENIED
    with pytest.raises(AccessDenied) as info:
        async with svc.stream():
            pass
    assert "HcnRegisterServiceCallback" in str(info.value)
    assert lib.aiohcs_registered_count() == before


async def test_use_before_enter_and_enter_twice() -> None:
    svc = FakeService()
    s = svc.stream()
    with pytest.raises(RuntimeError, match="async with"):
        await s.__anext__()
    async with s:
        with pytest.raises(RuntimeError, match="once"):
            await s.__aenter__()
    assert svc.live == 0


async def test_cancel_while_registering_leaves_nothing_registered() -> None:
    before = lib.aiohcs_registered_count()
    svc = FakeService()
    started, release = threading.Event(), threading.Event()
    plain = svc.register

    def slow_register(target: Any, context: Any) -> tuple[int, Any]:
        started.set()
        release.wait(5)
        return plain(target, context)

    stream = hn.NotificationStream(
        slow_register, svc.unregister, operation="HcnRegisterServiceCallback"
    )
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:

            async def enter() -> None:
                async with stream:
                    pytest.fail("entered although cancelled")

            tg.start_soon(enter)
            await anyio.to_thread.run_sync(started.wait)
            scope.cancel()
            release.set()
    assert svc.registered == 1
    assert svc.unregistered == 1
    assert svc.live == 0
    assert lib.aiohcs_registered_count() == before


async def test_cancel_while_iterating_then_exit() -> None:
    svc = FakeService()
    async with svc.stream() as s:
        with anyio.move_on_after(0.01):
            await s.__anext__()
        svc.send(4, f'{{"ID": "{NET}"}}')
        got = await s.__anext__()
        assert isinstance(got, hn.NetworkDeleted)
    assert svc.live == 0


async def test_unregister_races_with_callbacks() -> None:
    """Loops of enter/send/exit with notifications in flight: no crash, no stale delivery."""
    before = lib.aiohcs_registered_count()
    svc = FakeService()
    stop = threading.Event()

    def hammer() -> None:
        # Bursts with a breath between them: a loop that only sends floods the queue faster
        # than any loop drains it (under Wine it never caught up), which races nothing more.
        while not stop.is_set():
            for _ in range(20):
                svc.send(2, f'{{"ID": "{NET}"}}')
            time.sleep(0.0005)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        for i in range(100):
            async with svc.stream() as s:
                if i % 2:
                    n = await s.__anext__()
                    assert isinstance(n, hn.NetworkCreated)
                    assert n.id == NET
            with pytest.raises(StopAsyncIteration):
                await s.__anext__()
    finally:
        stop.set()
        thread.join()
    assert svc.live == 0
    assert lib.aiohcs_registered_count() == before


async def test_cancelled_exit_still_unregisters() -> None:
    svc = FakeService()
    with anyio.CancelScope() as scope:
        async with svc.stream():
            scope.cancel()
            await anyio.sleep(0)
    assert scope.cancelled_caught
    assert svc.live == 0


def test_unclosed_stream_warns_and_unregisters() -> None:
    svc = FakeService()

    async def leak() -> None:
        s = svc.stream()
        await s.__aenter__()
        del s

    with pytest.warns(ResourceWarning, match="notification stream"):
        anyio.run(leak)
    for _ in range(200):
        if svc.live == 0:
            break
        threading.Event().wait(0.01)
    assert svc.live == 0


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_native_asyncio_cancel_while_registering() -> None:
    import asyncio

    svc = FakeService()
    started, release = threading.Event(), threading.Event()
    plain = svc.register

    def slow_register(target: Any, context: Any) -> tuple[int, Any]:
        started.set()
        release.wait(5)
        return plain(target, context)

    async def enter() -> None:
        async with hn.NotificationStream(
            slow_register, svc.unregister, operation="HcnRegisterServiceCallback"
        ):
            pytest.fail("entered although cancelled")

    task = asyncio.ensure_future(enter())
    await anyio.to_thread.run_sync(started.wait)
    task.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert svc.registered == 1
    assert svc.live == 0


# --------------------------------------------------------------------------- on hcsim


async def _take(events: hn.NotificationStream, n: int) -> list[hn.Notification]:
    got: list[hn.Notification] = []
    with anyio.fail_after(10):
        while len(got) < n:
            got.append(await events.__anext__())
    return got


EXPECTED = [
    hn.NetworkPreCreate,
    hn.NetworkCreated,
    hn.EndpointAttached,
    hn.NamespaceCreated,
    hn.GuestNetworkServiceCreated,
    hn.EndpointDetached,
    hn.NetworkPreDelete,
    hn.NetworkDeleted,
    hn.NamespaceDeleted,
    hn.GuestNetworkServiceDeleted,
]


async def _every_kind() -> dict[str, uuid.UUID]:
    """Create and delete one object of each kind: the ten notifications of EXPECTED."""
    import aiohcs.hcn as hcn

    network = await hcn.create_nat_network("notify", "172.29.0.0/16")
    endpoint = await network.create_endpoint()
    namespace = await hcn.create_namespace()
    gns = await hcn.create_guest_network_service()
    await endpoint.delete()
    await network.delete()
    await namespace.delete()
    await gns.delete()
    return {"network": network.id, "endpoint": endpoint.id, "ns": namespace.id, "gns": gns.id}


def _check(got: list[hn.Notification], ids: dict[str, uuid.UUID]) -> None:
    assert [type(n) for n in got] == EXPECTED
    expected_id = ["network"] * 2 + ["endpoint", "ns", "gns", "endpoint"] + ["network"] * 2
    expected_id += ["ns", "gns"]
    assert [n.id for n in got] == [ids[k] for k in expected_id]
    for n in got:
        assert n.ok
        assert n.status == 0
        if isinstance(n, hn.EndpointAttached | hn.EndpointDetached):
            assert n.network_id == ids["network"]
        assert n.data is not None
        assert n.data["ID"] == str(n.id)  # lowercase, no braces


async def test_hcsim_every_service_notification() -> None:
    async with hn.notifications() as events:
        assert testing.counts().network_callbacks == 1
        ids = await _every_kind()
        got = await _take(events, len(EXPECTED))
        with anyio.move_on_after(0.05):
            extra = await events.__anext__()
            pytest.fail(f"unexpected {extra!r}")
    _check(got, ids)
    assert testing.counts().network_callbacks == 0


async def test_hcsim_several_streams_each_get_everything() -> None:
    async with hn.notifications() as a, hn.notifications() as b:
        assert testing.counts().network_callbacks == 2
        ids = await _every_kind()
        _check(await _take(a, len(EXPECTED)), ids)
        _check(await _take(b, len(EXPECTED)), ids)
    assert testing.counts().network_callbacks == 0


async def test_hcsim_nothing_before_registration_or_after_exit() -> None:
    import aiohcs.hcn as hcn

    await (await hcn.create_namespace()).delete()  # before: not seen
    async with hn.notifications() as events:
        namespace = await hcn.create_namespace()
        first = await _take(events, 1)
        assert isinstance(first[0], hn.NamespaceCreated)
        assert first[0].id == namespace.id
    await namespace.delete()  # after: not seen
    assert [n async for n in events] == []


async def test_hcsim_service_disconnect_ends_the_iterator() -> None:
    async with hn.notifications() as events:
        testing.disconnect_service()
        got = [n async for n in events]
        assert [type(n) for n in got] == [hn.ServiceDisconnected]
        assert got[0].raw is None
        assert got[0].id is None
    assert testing.counts().network_callbacks == 0


async def test_hcsim_register_failure_is_typed() -> None:
    from aiohcs.errors import AccessDenied

    testing.fail_next("HcnRegisterServiceCallback", 0x80070005)
    with pytest.raises(AccessDenied) as info:
        async with hn.notifications():
            pytest.fail("registered")
    assert "HcnRegisterServiceCallback" in str(info.value)
    assert testing.counts().network_callbacks == 0


async def test_hcsim_hidden_export_needs_release() -> None:
    from aiohcs.errors import UnsupportedOnThisHost

    with testing.hide_export("HcnRegisterServiceCallback"), pytest.raises(UnsupportedOnThisHost):
        async with hn.notifications():
            pytest.fail("registered")
    assert testing.counts().network_callbacks == 0


async def test_hcsim_cancel_at_every_await(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cancelled at each await of entering, iterating and leaving in turn: nothing stays.

    A hook counts the awaits (the admission, every call off the loop, every wait for an
    item); run ``n`` cancels the block as await ``n`` begins, so each one is proven hit.
    """
    import aiohcs.hcn as hcn
    from aiohcs import _hcn_call

    reached: list[str] = []
    cancel_at = -1
    scopes: list[anyio.CancelScope] = []

    def point(what: str) -> None:
        reached.append(what)
        if len(reached) - 1 == cancel_at:
            scopes[-1].cancel()

    def hook(module: Any, name: str) -> None:
        real = getattr(module, name)

        async def hooked(*args: Any, **kwargs: Any) -> Any:
            point(f"{module.__name__}.{name}")
            return await real(*args, **kwargs)

        monkeypatch.setattr(module, name, hooked)

    hook(hn, "admit")
    hook(hn, "run_sync")
    hook(_hcn_call, "run_sync")
    real_next = hn.NotificationStream.__anext__

    async def next_item(self: hn.NotificationStream) -> hn.Notification:
        point("__anext__")
        return await real_next(self)

    monkeypatch.setattr(hn.NotificationStream, "__anext__", next_item)

    async def block() -> None:
        async with hn.notifications() as events:
            namespace = await hcn.create_namespace()
            await namespace.delete()
            await _take(events, 2)

    await block()
    awaits = list(reached)
    assert "__anext__" in awaits
    assert len(awaits) >= 6, awaits  # (admit, register, create, delete, 2 items, unregister)
    for cancel_at in range(len(awaits)):
        reached.clear()
        with anyio.CancelScope() as scope:
            scopes.append(scope)
            await block()
            # (a cancel during the shielded unregister is delivered at the next checkpoint)
            await anyio.lowlevel.checkpoint()
        assert scope.cancelled_caught, (cancel_at, awaits[cancel_at])
        assert reached[cancel_at] == awaits[cancel_at]
        assert testing.counts().network_callbacks == 0, awaits[cancel_at]
    for ident in await hcn.enumerate_namespaces():
        await hcn.delete_namespace(ident)


async def test_hcsim_unregister_races_with_notifications() -> None:
    """100 registrations come and go while another task makes notifications happen.

    After each exit: hcsim holds no callback of it, the bridge's registry no longer knows
    its id, and the stream delivers nothing more. (A callback HNS made after the exit could
    not be seen here: the bridge drops items for an id it no longer knows.)
    """
    import aiohcs.hcn as hcn

    async def churn() -> None:
        while True:
            await (await hcn.create_namespace()).delete()

    async with anyio.create_task_group() as tg:
        tg.start_soon(churn)
        for i in range(100):
            async with hn.notifications() as events:
                assert events._hub is not None
                ident = events._hub.id
                if i % 3 == 0:
                    n = await _take(events, 1)
                    assert isinstance(n[0], hn.NamespaceCreated | hn.NamespaceDeleted)
            assert testing.counts().network_callbacks == 0
            assert not events.registered
            assert lib.aiohcs_unregister(ident) == 0  # (its id was already forgotten)
            assert [n async for n in events] == []
        tg.cancel_scope.cancel()
    assert testing.counts().network_callbacks == 0
    for ident in await hcn.enumerate_namespaces():
        await hcn.delete_namespace(ident)


# One step: create ("+") or delete ("-") a namespace ("ns") or guest network service ("gns").
_STEP = st.tuples(st.sampled_from(["+", "-"]), st.sampled_from(["ns", "gns"]))


async def _run_steps(steps: list[tuple[str, str]]) -> None:
    import aiohcs.hcn as hcn

    alive: dict[str, list[uuid.UUID]] = {"ns": [], "gns": []}
    expected: list[tuple[type[hn.Notification], uuid.UUID]] = []
    kinds = {
        "ns": (
            hcn.create_namespace,
            hcn.delete_namespace,
            hn.NamespaceCreated,
            hn.NamespaceDeleted,
        ),
        "gns": (
            hcn.create_guest_network_service,
            hcn.delete_guest_network_service,
            hn.GuestNetworkServiceCreated,
            hn.GuestNetworkServiceDeleted,
        ),
    }
    async with hn.notifications() as events:
        for op, kind in steps:
            create, delete, created, deleted = kinds[kind]
            if op == "+" or not alive[kind]:
                obj: Any = await create()
                await obj.aclose()
                alive[kind].append(obj.id)
                expected.append((created, obj.id))
            else:
                ident = alive[kind].pop(0)
                await delete(ident)
                expected.append((deleted, ident))
        got = await _take(events, len(expected))
    assert [(type(n), n.id) for n in got] == expected
    for kind, ids in alive.items():
        for ident in ids:
            await kinds[kind][1](ident)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(_STEP, max_size=12))
def test_hcsim_notifications_follow_the_calls(backend: str, steps: list[tuple[str, str]]) -> None:
    """Whatever the calls, the stream has exactly their notifications, in their order."""
    anyio.run(_run_steps, steps, backend=backend)
    assert testing.counts().network_callbacks == 0


async def test_hcsim_service_close_races_stream_registration() -> None:
    """A guest network service closed before, while or after its stream registers.

    The stream is refused (HandleClosedError), undone, or ended by the close; never left
    registered, and its task never left waiting.
    """
    import aiohcs.hcn as hcn

    outcomes: set[str] = set()
    for i in range(100):
        gns = await hcn.create_guest_network_service()
        stream = gns.notifications()

        async def enter(stream: hn.NotificationStream = stream) -> None:
            try:
                async with stream:
                    assert [n async for n in stream] == []  # (ends when the service closes)
                    outcomes.add("entered")
            except HandleClosedError:
                outcomes.add("refused")

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(enter)
                mode = i % 8
                if mode < 4:
                    for _ in range(mode):
                        await anyio.lowlevel.checkpoint()
                elif mode < 7:
                    await anyio.sleep((1e-4, 5e-4, 2e-3)[mode - 4])
                else:
                    while not stream.registered:
                        await anyio.sleep(0)
                await gns.delete()
        assert testing.counts().network_callbacks == 0
        assert not stream.registered
    assert outcomes == {"entered", "refused"}


async def test_closed_before_entry_is_refused() -> None:
    svc = FakeService()
    s = svc.stream()
    await s.aclose()
    with pytest.raises(HandleClosedError, match="notification stream"):
        await s.__aenter__()
    assert svc.registered == 0
