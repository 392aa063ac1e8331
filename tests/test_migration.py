"""Live migration: ``system.migrate`` (source) and ``ComputeSystem.migrate_in`` (destination).

On hcsim both ends live in this process, over a socket pair; the state really crosses it
(hcsim/README.md, "Live migration"). Every test runs on asyncio and trio, and the ``hcsim``
fixture checks that nothing is left behind.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
from helpers import CONTAINER, VM, state_of

from aiohcs import testing
from aiohcs.errors import (
    HcsError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    InvalidDocumentError,
    UnsupportedOnThisHost,
)
from aiohcs.events import LiveMigrationEvent
from aiohcs.system import ComputeSystem

pytestmark = pytest.mark.anyio


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected socket pair: the transport between the two ends."""
    left, right = socket.socketpair()
    with left, right:
        yield left, right


@pytest.fixture
async def source() -> AsyncIterator[ComputeSystem]:
    """A running VM ``"src"``; afterwards terminated (unless it exited) and closed."""
    system = await ComputeSystem.create("src", VM)
    try:
        await system.start()
        yield system
    finally:
        with anyio.CancelScope(shield=True):
            if system.exit_event is None and not system.closed:
                with contextlib.suppress(HcsError):
                    await system.terminate()
            await system.aclose()


async def ids() -> list[str]:
    from aiohcs.system import enumerate_systems

    return sorted(str(p.id) for p in await enumerate_systems())


async def assert_one_running(source: ComputeSystem) -> None:
    """Exactly one of the source and ``"dst"`` runs; ``"dst"``, if any, is then terminated.

    (The migration neither ran the VM on both hosts nor lost it.)
    """
    source_running = await state_of(source) == "Running"
    if "dst" in await ids():
        async with await ComputeSystem.open("dst") as moved:
            moved_running = await state_of(moved) == "Running"
            await moved.terminate()
    else:
        moved_running = False
    assert source_running != moved_running, (source_running, moved_running)


async def migrate_both(
    source: ComputeSystem, pair: tuple[socket.socket, socket.socket], **kwargs: object
) -> ComputeSystem:
    left, right = pair
    async with anyio.create_task_group() as tg:
        tg.start_soon(functools.partial(source.migrate, left, session_id=7))
        moved = await ComputeSystem.migrate_in("dst", VM, right, session_id=7, **kwargs)  # type: ignore[arg-type]
    return moved


async def test_migrate_moves_the_vm(
    source: ComputeSystem, pair: tuple[socket.socket, socket.socket]
) -> None:
    events = source.events()
    with anyio.fail_after(30):
        moved = await migrate_both(source, pair)
    async with moved:
        assert await state_of(moved) == "Running"
        # The source ends (Finalize with Stop).
        with anyio.fail_after(10):
            await source.wait()
        seen = [e async for e in events if isinstance(e, LiveMigrationEvent)]
        assert {e.origin for e in seen} == {"Source"}
        assert seen[0].event == "SetupDone"
        assert seen[-1].event == "MigrationDone"
        assert seen[-1].result == "Success"
        await moved.terminate()
        await moved.wait()


async def test_source_cannot_resume(source: ComputeSystem) -> None:
    # Finalize with Resume after a successful migration would run the VM on both hosts.
    with pytest.raises(TypeError):
        await source.migrate(0, finalize="Resume")  # type: ignore[call-arg]


async def test_session_mismatch_fails_both_ends_cleanly(
    source: ComputeSystem, pair: tuple[socket.socket, socket.socket]
) -> None:
    left, right = pair
    errors: list[BaseException] = []

    async def send() -> None:
        try:
            await source.migrate(left, session_id=1)
        except HcsError as exc:
            errors.append(exc)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(send)
            with pytest.raises(HcsError):
                await ComputeSystem.migrate_in("dst", VM, right, session_id=2)
            right.close()  # (the source's transfer then ends too)
    assert errors, "the source must fail as well"
    # The source runs on; the destination left nothing behind.
    assert await state_of(source) == "Running"
    assert await ids() == ["src"]


@pytest.mark.parametrize("delay", [0.0, 0.001, 0.005, 0.02, 0.05])
async def test_cancel_source_at_any_moment(
    source: ComputeSystem, pair: tuple[socket.socket, socket.socket], delay: float
) -> None:
    left, right = pair

    async def receive() -> None:
        try:
            moved = await ComputeSystem.migrate_in("dst", VM, right)
        except HcsError:
            return
        async with moved:  # (it got through before the cancellation)
            await moved.terminate()

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(receive)
            with anyio.move_on_after(delay) as scope:
                await source.migrate(left)
            if scope.cancelled_caught:
                left.close()  # (the destination, waiting for more, ends)
    # Cancelled: the source runs on; otherwise it migrated and ended.
    if scope.cancelled_caught:
        assert await state_of(source) in ("Running", "Stopped")
    assert "dst" not in await ids()


@pytest.mark.parametrize("delay", [0.0, 0.001, 0.005, 0.02])
async def test_cancel_destination_at_any_moment(
    source: ComputeSystem, pair: tuple[socket.socket, socket.socket], delay: float
) -> None:
    left, right = pair
    outcome: list[object] = []

    async def send() -> None:
        try:
            await source.migrate(left)
            outcome.append("migrated")
        except HcsError as exc:
            outcome.append(exc)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(send)
            with anyio.move_on_after(delay) as scope:
                moved = await ComputeSystem.migrate_in("dst", VM, right)
            if scope.cancelled_caught:
                right.close()
            else:
                async with moved:
                    await moved.terminate()
    if scope.cancelled_caught:
        # Cancelled before its transfer completed, nothing of the destination is left and
        # the source runs on; after it, the destination is kept running and the source ends.
        await assert_one_running(source)


@contextlib.contextmanager
def late_completion(
    monkeypatch: pytest.MonkeyPatch, owner: object, operation: str
) -> Iterator[anyio.Event]:
    """``operation`` of ``owner`` (None: any system) is seen 100 ms after it completed.

    The event is set once it has completed in HCS: a cancellation then reaches the caller
    while HCS has already done the step (a slow notification).
    """
    from aiohcs.progress import TrackedOperation

    completed = anyio.Event()
    original = TrackedOperation.wait

    async def wait(self: TrackedOperation) -> str | None:
        result = await original(self)
        if (owner is None or self._owner is owner) and self.operation == operation:
            completed.set()
            await anyio.sleep(0.1)
        return result

    monkeypatch.setattr(TrackedOperation, "wait", wait)
    yield completed


async def cancellable(scopes: dict[str, anyio.CancelScope], name: str, call: object) -> None:
    """Run ``call()`` in a cancel scope kept as ``scopes[name]``; errors are swallowed."""
    with anyio.CancelScope() as scope:
        scopes[name] = scope
        with contextlib.suppress(HcsError):
            await call()  # type: ignore[operator]


async def test_source_cancelled_after_its_transfer_stops(
    source: ComputeSystem,
    pair: tuple[socket.socket, socket.socket],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The destination holds the state: the source must not take over again (Resume, or a
    # cancel that resumes it), or the VM would run on both hosts.
    left, right = pair
    received: list[ComputeSystem] = []
    scopes: dict[str, anyio.CancelScope] = {}

    async def receive() -> None:
        received.append(await ComputeSystem.migrate_in("dst", VM, right))

    late = late_completion(monkeypatch, source, "StartLiveMigrationTransfer")
    with anyio.fail_after(30), late as completed:
        async with anyio.create_task_group() as tg:
            tg.start_soon(receive)
            tg.start_soon(cancellable, scopes, "src", functools.partial(source.migrate, left))
            await completed.wait()
            scopes["src"].cancel()
    assert scopes["src"].cancelled_caught
    assert received, "the destination completes"
    async with received[0] as moved:
        assert await state_of(moved) == "Running"
        assert await state_of(source) != "Running"
        await moved.terminate()


async def test_destination_cancelled_after_its_transfer_keeps_the_vm(
    source: ComputeSystem, pair: tuple[socket.socket, socket.socket]
) -> None:
    # Cancelled while the finalizes run: the destination holds the committed state and the
    # source stops, so the destination must resume and stay (terminating it loses the VM).
    left, right = pair
    scopes: dict[str, anyio.CancelScope] = {}
    events = source.events()
    with anyio.fail_after(30), testing.delay("HcsFinalizeLiveMigration", completion_ms=300):
        async with anyio.create_task_group() as tg:
            tg.start_soon(cancellable, scopes, "src", functools.partial(source.migrate, left))
            migrate_in = functools.partial(ComputeSystem.migrate_in, "dst", VM, right)
            tg.start_soon(cancellable, scopes, "dst", migrate_in)
            async for event in events:
                if isinstance(event, LiveMigrationEvent) and event.event == "OfflineDone":
                    break
            await anyio.sleep(0.05)
            scopes["dst"].cancel()
    assert scopes["dst"].cancelled_caught
    async with await ComputeSystem.open("dst") as moved:
        assert await state_of(moved) == "Running"
        await moved.terminate()
    assert await state_of(source) != "Running"


async def test_refused_migrate_leaves_the_running_one_alone(source: ComputeSystem) -> None:
    # A second migrate() of a system already migrating is refused at its Initialize; it
    # must not cancel the first (HcsCancelLiveMigration names the system, not the call).
    a, b = socket.socketpair()
    x, y = socket.socketpair()
    with a, b, x, y, anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(functools.partial(source.migrate, a, session_id=1))
            with testing.delay("HcsStartLiveMigrationTransfer", completion_ms=200):
                await anyio.sleep(0.1)  # (the first is past its Initialize)
                with pytest.raises(HcsError):
                    await source.migrate(x, session_id=2)
            moved = await ComputeSystem.migrate_in("dst", VM, b, session_id=1)
    async with moved:
        assert await state_of(moved) == "Running"
        await moved.terminate()


@pytest.mark.parametrize("side", ["source", "destination"])
async def test_the_peer_of_a_cancelled_side_fails_at_once(
    source: ComputeSystem, pair: tuple[socket.socket, socket.socket], side: str
) -> None:
    # The cancelled side shuts its transport down (both sockets stay open here), so the
    # other side's transfer ends now rather than after hcsim's 30-second idle timeout.
    left, right = pair
    scopes: dict[str, anyio.CancelScope] = {}
    failed: list[BaseException] = []

    async def peer(call: object) -> None:
        try:
            await call()  # type: ignore[operator]
        except HcsError as exc:
            failed.append(exc)

    send = functools.partial(source.migrate, left)
    receive = functools.partial(ComputeSystem.migrate_in, "dst", VM, right)
    cancelled, other = (send, receive) if side == "source" else (receive, send)
    with anyio.fail_after(10), testing.delay("HcsStartLiveMigrationTransfer", completion_ms=20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(cancellable, scopes, side, cancelled)
            tg.start_soon(peer, other)
            await anyio.sleep(0.01)  # (both are in their transfer)
            scopes[side].cancel()
    assert scopes[side].cancelled_caught
    assert failed, "the peer fails"
    assert await state_of(source) == "Running"
    assert await ids() == ["src"]


async def test_unsupported_host_fails_before_c(
    source: ComputeSystem, pair: tuple[socket.socket, socket.socket]
) -> None:
    left, right = pair
    # (HcsCancelLiveMigration too, once aiohcs.testing knows the exports of
    # computecore_extra.cdef: today hide_export refuses its name.)
    for export in ("HcsInitializeLiveMigrationOnSource", "HcsAddResourceToOperation"):
        with testing.hide_export(export):
            before = testing.counts()
            with pytest.raises(UnsupportedOnThisHost) as info:
                await source.migrate(left)
            assert export in str(info.value)
            with pytest.raises(UnsupportedOnThisHost):
                await ComputeSystem.migrate_in("dst", VM, right)
            assert testing.counts().operations == before.operations
    assert await ids() == ["src"]


async def test_bad_arguments(
    source: ComputeSystem, pair: tuple[socket.socket, socket.socket]
) -> None:
    left, _right = pair
    with pytest.raises(InvalidArgumentTypeError):
        await source.migrate("not a socket")  # type: ignore[arg-type]
    with pytest.raises(InvalidDocumentError):
        await source.migrate(left, options={"ChecksumVerification": "maybe"})
    with pytest.raises(InvalidDocumentError):
        await source.migrate(left, session_id=-1)
    closed = socket.socket()
    closed.close()
    with pytest.raises(InvalidArgumentError):
        await ComputeSystem.migrate_in("dst", VM, closed)
    assert await ids() == ["src"]
    assert await state_of(source) == "Running"


@pytest.mark.posix_only("a pipe's descriptor")
async def test_transport_descriptor_must_be_a_socket(source: ComputeSystem) -> None:
    read_end, write_end = os.pipe()
    try:
        for fd in (read_end, 1 << 20):  # (a pipe; a descriptor that is not open)
            with pytest.raises(InvalidArgumentError, match="transport must be a socket"):
                await source.migrate(fd)
            with pytest.raises(InvalidArgumentError, match="transport must be a socket"):
                await ComputeSystem.migrate_in("dst", VM, fd)
    finally:
        os.close(read_end)
        os.close(write_end)
    assert await ids() == ["src"]
    assert await state_of(source) == "Running"


async def test_container_cannot_migrate(pair: tuple[socket.socket, socket.socket]) -> None:
    async with await ComputeSystem.create("box", CONTAINER) as box:
        await box.start()
        with pytest.raises(HcsError):
            await box.migrate(pair[0])
        assert await state_of(box) == "Running"
        await box.terminate()


async def test_closed_source_fails(
    source: ComputeSystem, pair: tuple[socket.socket, socket.socket]
) -> None:
    from aiohcs.operation import HandleClosedError

    async with await ComputeSystem.open("src") as other:
        await other.aclose()
        with pytest.raises(HandleClosedError):
            await other.migrate(pair[0])


def test_example_runs() -> None:
    from helpers import REPO, run_child

    result = run_child(str(REPO / "examples" / "live_migration.py"), timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "source: migration SetupDone" in out
    assert "source: migration MigrationDone (Success)" in out
    assert "vm1-moved: Running" in out
    assert "vm1: exited (ForcedExit)" in out


async def cancel_at_random(iterations: int, seed: int) -> None:
    """Migrate ``iterations`` times, cancelling one side (or none) 0-50 ms in each time.

    Afterwards exactly one copy of the VM runs (the source, or the destination with the
    source ended), and hcsim's counters are back to zero.
    """
    import random

    from helpers import settle

    rnd = random.Random(seed)
    for i in range(iterations):
        side = rnd.choice(["source", "destination", "none"])
        delay = rnd.uniform(0, 0.05)
        scopes: dict[str, anyio.CancelScope] = {}
        source = await ComputeSystem.create("src", VM)
        try:
            await source.start()
            left, right = socket.socketpair()
            with left, right, anyio.fail_after(30):
                async with anyio.create_task_group() as tg:
                    send = functools.partial(source.migrate, left, session_id=i)
                    receive = functools.partial(
                        ComputeSystem.migrate_in, "dst", VM, right, session_id=i
                    )
                    tg.start_soon(cancellable, scopes, "source", send)
                    tg.start_soon(cancellable, scopes, "destination", receive)
                    await anyio.sleep(delay)
                    if side != "none":
                        scopes[side].cancel()
            received = "dst" in await ids()
            await assert_one_running(source)
            if not received:
                assert await state_of(source) != "Stopped", (i, side, delay)
            if await state_of(source) == "Running":
                await source.terminate()
        finally:
            await source.aclose()
        await settle()
        now = testing.counts()
        assert now.leaks() == {}, (i, side, delay, now)


PROFILES = [
    pytest.param("instant", marks=pytest.mark.hcsim_latency("instant")),
    pytest.param("realistic", marks=pytest.mark.hcsim_latency("realistic")),
]


@pytest.mark.parametrize("profile", PROFILES)
async def test_random_cancellation_keeps_exactly_one_vm(profile: str) -> None:
    await cancel_at_random(10, seed=len(profile))


@pytest.mark.reliability
@pytest.mark.parametrize("profile", PROFILES)
async def test_random_cancellation_keeps_exactly_one_vm_many_times(profile: str) -> None:
    await cancel_at_random(100, seed=len(profile) * 7)
