"""The callback bridge: C callbacks on foreign threads → per-loop C queue → drain task.

These tests call the bridge's C event callback directly from native threads (cffi releases
the GIL around the call, so it really runs concurrently with the loop), which exercises the
queue, the wake socket and the dispatch without depending on the emulator.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import threading
from collections.abc import Sequence
from typing import Any

import anyio
import pytest

from aiohcs import _bridge
from aiohcs._bridge import BridgeClosedError, Item, current_bridge
from aiohcs._native import ffi, lib, to_wide
from aiohcs.events import (
    EventHub,
    SystemExited,
    SystemGuestConnectionClosed,
    UnknownEvent,
)

pytestmark = pytest.mark.anyio


def fire(ident: int, events: Sequence[tuple[int, str | None]]) -> None:
    """Invoke the C event callback for ``ident`` once per (type, EventData)."""
    ev = ffi.new("HCS_EVENT *")
    for event_type, data in events:
        wide = to_wide(data)
        ev.Type = event_type
        ev.EventData = wide
        lib.aiohcs_event_callback(ev, ffi.cast("void *", ident))


def fire_in_thread(ident: int, events: Sequence[tuple[int, str | None]]) -> threading.Thread:
    thread = threading.Thread(target=fire, args=(ident, events))
    thread.start()
    return thread


async def test_events_from_a_foreign_thread_reach_every_subscriber_in_order() -> None:
    hub = EventHub(current_bridge())
    first, second = hub.subscribe(), hub.subscribe()
    n = 2000
    events = [(6, f'{{"i": {i}}}') for i in range(n - 1)] + [(1, '{"Status": 0}')]
    thread = fire_in_thread(hub.id, events)
    with anyio.fail_after(10):
        got_first = [e async for e in first]
        got_second = [e async for e in second]
    thread.join()
    assert [e.data["i"] for e in got_first[:-1]] == list(range(n - 1))
    assert got_first == got_second
    assert isinstance(got_first[0], SystemGuestConnectionClosed)
    assert isinstance(got_first[-1], SystemExited)
    hub.unregister()


async def test_several_threads_at_once() -> None:
    hub = EventHub(current_bridge())
    stream = hub.subscribe()
    threads = [
        fire_in_thread(hub.id, [(4, f'{{"t": {t}, "i": {i}}}') for i in range(300)])
        for t in range(4)
    ]
    for t in threads:
        t.join()
    fire(hub.id, [(1, None)])
    with anyio.fail_after(10):
        got = [e async for e in stream]
    assert len(got) == 4 * 300 + 1
    per_thread: dict[int, list[int]] = {}
    for e in got[:-1]:
        per_thread.setdefault(e.data["t"], []).append(e.data["i"])
    # Each thread's events keep their order.
    assert all(v == list(range(300)) for v in per_thread.values())
    hub.unregister()


async def test_a_flood_of_callbacks_does_not_starve_the_loop() -> None:
    hub = EventHub(current_bridge())
    stream = hub.subscribe()
    stop = threading.Event()

    def flood() -> None:
        while not stop.is_set():
            fire(hub.id, [(6, None)] * 100)

    thread = threading.Thread(target=flood)
    thread.start()
    try:
        with anyio.fail_after(10):
            for _ in range(20):
                await anyio.sleep(0.001)  # the loop keeps getting turns
    finally:
        stop.set()
        thread.join()
    assert stream.pending > 0
    hub.unregister()


async def test_payload_is_copied_exactly() -> None:
    hub = EventHub(current_bridge())
    stream = hub.subscribe()
    text = '{"Name": "zoë \u2013 日本 \u2013 \U0001f600", "Empty": ""}'
    fire(hub.id, [(0x4242, text), (6, None), (1, "")])
    with anyio.fail_after(5):
        got = [e async for e in stream]
    assert isinstance(got[0], UnknownEvent)
    assert got[0].type == 0x4242
    assert got[0].raw == text
    assert got[0].data == {"Name": "zoë \u2013 日本 \u2013 \U0001f600", "Empty": ""}
    assert got[1].raw is None
    assert got[1].data is None
    assert got[2].raw == ""
    assert got[2].data is None
    hub.unregister()


async def test_unknown_and_unregistered_ids_are_ignored() -> None:
    bridge = current_bridge()
    hub = EventHub(bridge)
    ident = hub.id
    hub.unregister()
    before = lib.aiohcs_registered_count()
    fire(ident, [(1, "{}")])  # unregistered
    fire(0, [(1, "{}")])  # never registered
    fire(2**63 + 5, [(1, "{}")])
    await anyio.sleep(0.01)
    assert bridge.drain() == 0
    assert lib.aiohcs_registered_count() == before


async def test_exception_in_dispatch_does_not_stop_the_drain(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bridge = current_bridge()

    class Exploding:
        def _deliver(self, item: Item) -> None:
            raise RuntimeError("boom")

        def _bridge_closed(self) -> None:
            pass

    bad = bridge.register(Exploding())
    hub = EventHub(bridge)
    stream = hub.subscribe()
    with caplog.at_level(logging.ERROR, logger="aiohcs"):
        fire(bad, [(6, None)])
        fire(hub.id, [(1, None)])
        with anyio.fail_after(5):
            got = [e async for e in stream]
    assert [type(e) for e in got] == [SystemExited]
    assert any("boom" in r.getMessage() or r.exc_info for r in caplog.records)
    bridge.unregister(bad)
    hub.unregister()


async def test_terminal_event_semantics() -> None:
    hub = EventHub(current_bridge())
    early = hub.subscribe()
    fire(hub.id, [(2, '{"CrashParameters": [1]}'), (1, '{"ExitType": "ForcedExit"}'), (6, None)])
    with anyio.fail_after(5):
        terminal = await hub.wait()
        got = [e async for e in early]
    assert isinstance(terminal, SystemExited)
    assert terminal.exit_type == "ForcedExit"
    # The event after the terminal one is ignored.
    assert [type(e).__name__ for e in got] == ["SystemCrashInitiated", "SystemExited"]
    # A stream opened after the exit yields the exit and ends.
    late = [e async for e in hub.subscribe()]
    assert late == [terminal]
    hub.unregister()


async def test_close_ends_streams_and_wakes_waiters() -> None:
    hub = EventHub(current_bridge())
    stream = hub.subscribe()
    results: list[Any] = []

    async def consume() -> None:
        results.append([e async for e in stream])

    async def wait() -> None:
        results.append(await hub.wait())

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        tg.start_soon(wait)
        await anyio.sleep(0.01)
        fire(hub.id, [(6, None)])
        await anyio.sleep(0.05)
        hub.unregister()
    assert sorted(map(repr, results)) == sorted(
        [repr(None), repr([SystemGuestConnectionClosed(6)])]
    )


async def test_stream_aclose_and_garbage_collection_unsubscribe() -> None:
    hub = EventHub(current_bridge())
    async with hub.subscribe() as stream:
        pass
    assert stream not in hub._subscribers
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()
    dropped = hub.subscribe()
    assert len(hub._subscribers) == 1
    del dropped
    gc.collect()
    assert len(hub._subscribers) == 0
    hub.unregister()


async def test_one_bridge_per_loop_and_it_is_reused() -> None:
    assert current_bridge() is current_bridge()


def _run_loop_thread(backend: str, n: int, out: dict[str, Any]) -> None:
    async def main() -> None:
        hub = EventHub(current_bridge())
        stream = hub.subscribe()
        out["bridge"] = current_bridge()
        thread = fire_in_thread(hub.id, [(5, f'{{"i": {i}}}') for i in range(n)] + [(1, None)])
        got = [e async for e in stream]
        thread.join()
        out["events"] = [e.data["i"] for e in got[:-1]]
        hub.unregister()

    anyio.run(main, backend=backend)


@pytest.mark.parametrize(
    "backends", [("asyncio", "trio"), ("asyncio", "asyncio"), ("trio", "trio")]
)
def test_two_loops_in_two_threads(backends: tuple[str, str]) -> None:
    outs: list[dict[str, Any]] = [{}, {}]
    threads = [
        threading.Thread(target=_run_loop_thread, args=(backend, 500, out))
        for backend, out in zip(backends, outs, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    for out in outs:
        assert out["events"] == list(range(500))
    assert outs[0]["bridge"] is not outs[1]["bridge"]
    # Both loops ended: their queues are freed and their ids forgotten.
    assert all(out["bridge"].closed for out in outs)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_loop_shutdown_frees_the_queue_and_drops_late_callbacks(backend: str) -> None:
    before = lib.aiohcs_registered_count()
    state: dict[str, Any] = {}

    async def main() -> None:
        bridge = current_bridge()
        hub = EventHub(bridge)  # left registered on purpose
        state["id"], state["bridge"], state["hub"] = hub.id, bridge, hub
        waiter = hub.subscribe()
        state["stream"] = waiter
        assert lib.aiohcs_registered_count() == before + 1

    anyio.run(main, backend=backend)
    bridge = state["bridge"]
    assert bridge.closed
    assert lib.aiohcs_registered_count() == before
    # The hub was told: its stream ended.
    assert state["hub"].closed
    assert state["stream"]._ended
    fire(state["id"], [(1, None)])  # late callback: ignored in C, no crash
    assert lib.aiohcs_registered_count() == before


async def test_calls_after_the_bridge_closed_fail_fast() -> None:
    bridge = current_bridge()
    bridge.shutdown()
    try:
        with pytest.raises(BridgeClosedError):
            current_bridge()
        with pytest.raises(BridgeClosedError):
            EventHub(bridge)
    finally:
        # Let this loop get a fresh bridge for any later use in this test run.
        with _bridge._registry._bridges_lock:
            for key, value in list(_bridge._registry._bridges.items()):
                if value() is bridge:
                    del _bridge._registry._bridges[key]


def test_a_failing_drain_task_closes_the_bridge_without_crashing_the_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import trio

    async def main() -> None:
        bridge = current_bridge()
        hub = EventHub(bridge)
        stream = hub.subscribe()
        await anyio.sleep(0.01)  # the drain task waits on the wake socket
        trio.lowlevel.notify_closing(bridge._native.rsock)  # its wait now raises
        with anyio.fail_after(5):
            assert [e async for e in stream] == []  # the stream ends with the bridge
        assert bridge.closed
        with pytest.raises(BridgeClosedError):
            current_bridge()

    with caplog.at_level(logging.ERROR, logger="aiohcs"):
        anyio.run(main, backend="trio")
    assert any("bridge of this event loop failed" in r.getMessage() for r in caplog.records)


class _NoReaderLoop(asyncio.SelectorEventLoop):
    """An asyncio loop without add_reader, like the Windows proactor loop."""

    def add_reader(self, fd: Any, callback: Any, *args: Any) -> None:  # type: ignore[override]
        raise NotImplementedError


def test_asyncio_loop_without_add_reader_uses_the_drain_task() -> None:
    """The proactor-loop path: the drain task receives the wake bytes with sock_recv."""

    async def main() -> list[int]:
        hub = EventHub(current_bridge())
        stream = hub.subscribe()
        thread = fire_in_thread(hub.id, [(6, f'{{"i": {i}}}') for i in range(300)] + [(1, None)])
        with anyio.fail_after(10):
            got = [e async for e in stream]
        thread.join()
        hub.unregister()
        return [e.data["i"] for e in got[:-1]]

    result = anyio.run(main, backend="asyncio", backend_options={"loop_factory": _NoReaderLoop})
    assert result == list(range(300))


# ---------------------------------------------------------------- worker threads, one-shot ids


async def test_run_sync_runs_in_a_worker_thread_and_returns_or_raises() -> None:
    before = lib.aiohcs_registered_count()
    loop_thread = threading.get_ident()
    assert await _bridge.run_sync(threading.get_ident) != loop_thread
    assert await _bridge.run_sync(divmod, 7, 2) == (3, 1)
    with pytest.raises(ZeroDivisionError):
        await _bridge.run_sync(divmod, 1, 0)
    # The ids were registered POSTED: the C side forgot them with the result.
    assert lib.aiohcs_registered_count() == before
    assert not current_bridge()._targets


async def test_run_sync_is_shielded_the_call_always_finishes() -> None:
    started, release = threading.Event(), threading.Event()
    finished: list[int] = []

    def blocking() -> int:
        started.set()
        release.wait(5)
        finished.append(1)
        return 42

    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:

            async def call() -> None:
                assert await _bridge.run_sync(blocking) == 42

            tg.start_soon(call)
            await anyio.to_thread.run_sync(started.wait, 5)
            scope.cancel()  # the waiting task keeps waiting for the thread
            await anyio.sleep(0.01)
            assert not finished
            release.set()
    assert finished == [1]


async def test_many_jobs_share_the_bounded_pool() -> None:
    pool = _bridge.workers
    n = 3 * pool.MAX_THREADS
    results = await _gather([_bridge.run_sync(lambda i=i: i * i) for i in range(n)])
    assert results == [i * i for i in range(n)]
    assert pool.threads <= pool.MAX_THREADS


async def _gather(calls: Sequence[Any]) -> list[Any]:
    out: list[Any] = [None] * len(calls)

    async def one(i: int, call: Any) -> None:
        out[i] = await call

    async with anyio.create_task_group() as tg:
        for i, call in enumerate(calls):
            tg.start_soon(one, i, call)
    return out


def test_idle_worker_threads_end() -> None:
    pool = _bridge.WorkerPool()
    pool.IDLE_SECONDS = 0.05  # type: ignore[misc]
    ran = threading.Event()
    pool.submit(ran.set)
    assert ran.wait(5)
    assert pool.threads == 1
    deadline = threading.Event()
    for _ in range(100):
        if pool.threads == 0:
            break
        deadline.wait(0.02)
    assert pool.threads == 0
    # ... and a new job starts a new one.
    ran.clear()
    pool.submit(ran.set)
    assert ran.wait(5)


async def test_posted_items_reach_their_target_once() -> None:
    bridge = current_bridge()
    got: list[Item] = []
    sleeper = _bridge.Sleeper(bridge)

    class Target:
        def _deliver(self, item: Item) -> None:
            got.append(item)
            sleeper._wake()

        def _bridge_closed(self) -> None:
            pass

    ident = bridge.register(Target(), _bridge.REGISTER_POSTED)
    thread = threading.Thread(target=lib.aiohcs_post, args=(ident, 7))
    thread.start()
    thread.join()
    with anyio.fail_after(5):
        while not got:
            await sleeper._sleep()
    assert [(i.id, i.kind, i.result, i.payload) for i in got] == [
        (ident, _bridge.ITEM_CALL, 7, None)
    ]
    # POSTED: forgotten in C with that item; a second post is refused.
    assert lib.aiohcs_post(ident, 0) == 0
    bridge.forget(ident)


async def test_one_shot_operation_ids_are_forgotten_with_their_completion() -> None:
    """An operation id registered ONESHOT needs no unregister call (one C call less)."""
    bridge = current_bridge()
    before = lib.aiohcs_registered_count()
    done: list[Item] = []
    sleeper = _bridge.Sleeper(bridge)

    class Target:
        def _deliver(self, item: Item) -> None:
            done.append(item)
            bridge.forget(item.id)
            sleeper._wake()

        def _bridge_closed(self) -> None:
            pass

    ident, op = bridge.register_operation(Target(), _bridge.REGISTER_ONESHOT)
    assert lib.aiohcs_registered_count() == before + 1
    assert lib.HcsEnumerateComputeSystems(ffi.NULL, op) >= 0
    with anyio.fail_after(5):
        while not done:
            await sleeper._sleep()
    assert done[0].id == ident
    assert done[0].kind == _bridge.ITEM_COMPLETION
    assert done[0].result == 0
    assert lib.aiohcs_registered_count() == before
    assert not bridge._targets


async def test_a_sleeper_cancelled_while_parked_can_still_be_woken_safely() -> None:
    sleeper = _bridge.Sleeper(current_bridge())
    with anyio.move_on_after(0.01) as scope:
        await sleeper._sleep()
    assert scope.cancelled_caught
    sleeper._wake()  # nobody parked any more: a no-op (trio would fail on a stale task)
    await anyio.sleep(0)


async def test_a_burst_is_dispatched_a_budget_per_loop_turn() -> None:
    """The drain hands over at most _BUDGET items per turn, so a burst cannot stall the loop."""
    bridge = current_bridge()
    hub = EventHub(bridge)
    stream = hub.subscribe()
    n = 10 * _bridge._core._BUDGET
    fire(hub.id, [(6, None)] * n)  # all queued before the loop gets a turn
    steps: list[int] = []
    with anyio.fail_after(5):
        while stream.pending < n:
            seen = stream.pending
            await anyio.sleep(0)  # one turn of the loop
            steps.append(stream.pending - seen)
    assert max(steps) <= 2 * _bridge._core._BUDGET  # (the drain may run twice in one of our turns)
    assert len([s for s in steps if s]) >= 5
    hub.unregister()


async def test_drain_consumes_the_wake_bytes() -> None:
    bridge = current_bridge()
    hub = EventHub(bridge)
    stream = hub.subscribe()
    fire(hub.id, [(6, None)])
    assert bridge.drain() == 1
    with pytest.raises(BlockingIOError):
        bridge._native.rsock.recv(16)
    assert stream.pending == 1
    hub.unregister()


async def test_operation_started_in_a_worker_thread() -> None:
    """run_operation(in_thread=True): result, synchronous failure, exception; no id left."""
    from aiohcs import errors
    from aiohcs.operation import run_operation

    bridge = current_bridge()
    before = lib.aiohcs_registered_count()
    threads: list[int] = []

    def enumerate_(op: Any) -> int:
        threads.append(threading.get_ident())
        hr: int = lib.HcsEnumerateComputeSystems(ffi.NULL, op)
        return hr

    result = await run_operation(enumerate_, operation="Enumerate", in_thread=True)
    assert result.result == 0
    assert result.document is not None
    assert threads
    assert threads[0] != threading.get_ident()

    def refuse(op: Any) -> int:
        return -2147024809  # E_INVALIDARG, synchronously

    with pytest.raises(errors.HcsError) as info:
        await run_operation(refuse, operation="Enumerate", system_id="x", in_thread=True)
    assert info.value.hresult == 0x80070057

    def explode(op: Any) -> int:
        raise KeyError("start failed")

    with pytest.raises(KeyError):
        await run_operation(explode, operation="Enumerate", in_thread=True)
    assert lib.aiohcs_registered_count() == before
    assert not bridge._targets


async def test_jobs_not_yet_handed_to_a_thread_are_dropped_at_loop_shutdown() -> None:
    """Their operations are closed (conftest checks hcsim has no live operation left)."""
    from aiohcs.operation import run_operation

    bridge = current_bridge()
    ran: list[int] = []
    outcome: list[BaseException] = []

    def start(op: Any) -> int:
        ran.append(1)
        return 0

    async def call() -> None:
        try:
            await run_operation(start, operation="Enumerate", in_thread=True)
        except BridgeClosedError as exc:
            outcome.append(exc)

    bridge._flush_jobs = lambda: None  # type: ignore[method-assign]  # (hand nothing over)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            with anyio.fail_after(5):
                while not bridge._jobs:  # until call() queued its job
                    await anyio.lowlevel.checkpoint()
            bridge.shutdown()
    finally:
        with _bridge._registry._bridges_lock:
            for key, value in list(_bridge._registry._bridges.items()):
                if value() is bridge:
                    del _bridge._registry._bridges[key]
    assert len(outcome) == 1
    await anyio.sleep(0.05)
    assert ran == []


@pytest.mark.posix_only("fork")
def test_the_worker_pool_works_in_a_forked_child() -> None:
    """The pool's threads do not survive fork; a child starts its own."""
    pool = _bridge.workers
    ran = threading.Event()
    pool.submit(ran.set)
    assert ran.wait(5)
    assert pool.threads >= 1
    pid = os.fork()
    if pid == 0:  # the child: only async-signal-safe-ish work, then _exit
        code = 1
        try:
            done = threading.Event()
            pool.submit(done.set)
            code = 0 if done.wait(5) and pool.threads == 1 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


async def test_admission_lets_a_budget_of_costly_calls_begin_per_turn() -> None:
    bridge = current_bridge()
    admitted: list[int] = []

    async def one(i: int) -> None:
        await bridge.admit()
        admitted.append(i)

    seen: list[int] = []
    async with anyio.create_task_group() as tg:
        for i in range(40):
            tg.start_soon(one, i)
        while len(admitted) < 40:
            await anyio.lowlevel.checkpoint()
            seen.append(len(admitted))
    assert sorted(admitted) == list(range(40))
    # Calls admitted between two of this task's turns: a budget per turn (trio runs the
    # tasks of a batch in random order, so an observer may see parts of two turns).
    steps = [b - a for a, b in zip([0, *seen], seen, strict=False)]
    assert max(steps) <= 2 * _bridge._admission._ADMIT_BUDGET < 40
    assert len(seen) >= 3  # 40 calls took at least three turns


async def test_a_call_cancelled_while_waiting_for_admission_leaves_the_queue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bridge = current_bridge()
    admitted: list[int] = []

    async def one(i: int) -> None:
        await bridge.admit()
        admitted.append(i)

    monkeypatch.setattr(_bridge._admission, "_ADMIT_BUDGET", 0)  # no turn has room: everyone waits
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            while bridge.admission.left:
                await bridge.admit()
            tg.start_soon(one, 1000)
            tg.start_soon(one, 1001)
            for _ in range(5):
                await anyio.lowlevel.checkpoint()
            assert len(bridge.admission.waiting) == 2
            scope.cancel()
    assert admitted == []
    assert not bridge.admission.waiting
    monkeypatch.undo()
    # Later calls are admitted as usual.
    with anyio.fail_after(5):
        for _ in range(3 * _bridge._admission._ADMIT_BUDGET):
            await bridge.admit()


async def test_the_backend_is_chosen_once_per_bridge_for_the_running_library(
    anyio_backend_name: str,
) -> None:
    bridge = current_bridge()
    assert bridge.backend.name == anyio_backend_name
    assert _bridge.current_backend().name == anyio_backend_name
    ran: list[int] = []
    done = anyio.Event()

    def soon() -> None:
        ran.append(threading.get_ident())
        done.set()

    threading.Thread(target=bridge.call_soon_threadsafe, args=(soon,)).start()
    with anyio.fail_after(5):
        await done.wait()
    assert ran == [threading.get_ident()]


async def test_a_sleeper_is_woken_with_a_value() -> None:
    sleeper = _bridge.Sleeper(current_bridge())
    got: list[Any] = []

    async def sleep() -> None:
        got.append(await sleeper._sleep())

    async with anyio.create_task_group() as tg:
        tg.start_soon(sleep)
        with anyio.fail_after(5):
            while sleeper._parked is None:
                await anyio.sleep(0)
        sleeper._wake("value")
    assert got == ["value"]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_each_loop_learns_its_own_start_and_completion_times(backend: str) -> None:
    async def tune() -> tuple[object, object]:
        bridge = current_bridge()
        assert bridge.start_cost.average == 0.0  # (fresh: nothing measured on this loop)
        assert bridge.completion_time.poll_window() == 0.0
        bridge.start_cost.record(1.0)
        bridge.completion_time.record(0.00001)
        return bridge.start_cost, bridge.completion_time

    first = anyio.run(tune, backend=backend)
    second = anyio.run(tune, backend=backend)
    assert first[0] is not second[0]
    assert first[1] is not second[1]


@pytest.mark.parametrize(
    ("value", "invalid"),
    [
        (0, True),
        (-1, True),
        (sys.maxsize * 2 + 1, True),  # (HANDLE)-1 through uintptr_t
        (4, False),
        (0xFFFFFFFF, True),  # INVALID_HANDLE_VALUE through a 32-bit DWORD
        (0xFFFFFFFC, False),
    ],
)
def test_invalid_handle_values(value: int, invalid: bool) -> None:
    """NULL and INVALID_HANDLE_VALUE, as HANDLE values reach Python."""
    assert _bridge.is_invalid_handle(value) is invalid
