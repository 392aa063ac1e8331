"""The pipe streams on plain OS pipes, both engines, asyncio and trio.

These exercise the engines without HCS: a stream owns one end of ``os.pipe()``. The
process tests run the same streams over hcsim's pipe handles.
"""

from __future__ import annotations

import os
import random
import threading
import time

import anyio
import pytest
from helpers import open_fds
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiohcs._pipes import (
    ENGINE_ENV,
    PipeReceiveStream,
    PipeSendStream,
    RawPipe,
    default_engine,
    receive_stream,
    resolve_engine,
    send_stream,
)
from aiohcs._pipes._thread import DEFAULT_LIMIT, ThreadReceiveStream

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.posix_only("engines over os.pipe descriptors, without HCS"),
]

HYPOTHESIS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def pipe_pair(engine: str) -> tuple[PipeSendStream, PipeReceiveStream]:
    r, w = os.pipe()
    return send_stream(RawPipe.from_fd(w), engine), receive_stream(RawPipe.from_fd(r), engine)


async def test_round_trip_and_eof(engine: str) -> None:
    tx, rx = pipe_pair(engine)
    assert tx.engine == rx.engine == engine
    data = os.urandom(300_000)
    async with anyio.create_task_group() as tg:

        async def write() -> None:
            await tx.send(data)
            await tx.aclose()

        tg.start_soon(write)
        got = await rx.read_all()
    assert got == data
    assert rx.at_eof
    with pytest.raises(anyio.EndOfStream):
        await rx.receive()
    assert tx.bytes_written == len(data)
    await rx.aclose()
    assert rx.closed
    assert tx.closed
    with pytest.raises(anyio.ClosedResourceError):
        await rx.receive()
    with pytest.raises(anyio.ClosedResourceError):
        await tx.send(b"x")


@HYPOTHESIS
@given(sizes=st.lists(st.integers(0, 200_000), max_size=6), seed=st.integers(0, 2**32))
async def test_random_sizes(engine: str, sizes: list[int], seed: int) -> None:
    rng = random.Random(seed)
    chunks = [rng.randbytes(n) for n in sizes]
    tx, rx = pipe_pair(engine)
    async with anyio.create_task_group() as tg:

        async def write() -> None:
            for chunk in chunks:
                await tx.send(chunk)
            await tx.aclose()

        tg.start_soon(write)
        got = await rx.read_all(rng.choice([7, 4096, 65536, 1 << 20]))
    await rx.aclose()
    assert got == b"".join(chunks)


@HYPOTHESIS
@given(seed=st.integers(0, 2**32))
async def test_cancelled_receives_lose_nothing(engine: str, seed: int) -> None:
    rng = random.Random(seed)
    data = rng.randbytes(rng.randrange(1, 400_000))
    tx, rx = pipe_pair(engine)
    got = bytearray()
    cancelled = attempts = 0
    async with anyio.create_task_group() as tg:

        async def write() -> None:
            view = memoryview(data)
            while view:
                n = rng.randrange(1, 50_000)
                await tx.send(view[:n])
                view = view[n:]
                if rng.random() < 0.3:
                    await anyio.sleep(0)
            await tx.aclose()

        tg.start_soon(write)
        while True:
            with anyio.CancelScope() as scope:
                if rng.random() < 0.4:
                    scope.cancel()  # cancelled at its first checkpoint
                elif rng.random() < 0.3:
                    scope.deadline = anyio.current_time() + rng.random() * 0.001
                try:
                    got += await rx.receive(rng.randrange(1, 100_000))
                except anyio.EndOfStream:
                    break
            cancelled += scope.cancelled_caught
            attempts += 1
    await rx.aclose()
    assert bytes(got) == data
    assert cancelled > 0 or attempts < 20


@HYPOTHESIS
@given(seed=st.integers(0, 2**32))
async def test_cancelled_sends_are_resumable(engine: str, seed: int) -> None:
    """A cancelled send reports exactly what it wrote; resuming from there loses nothing."""
    rng = random.Random(seed)
    data = rng.randbytes(rng.randrange(1, 600_000))
    tx, rx = pipe_pair(engine)
    cancelled = 0
    async with anyio.create_task_group() as tg:
        parts: list[bytes] = []

        async def read() -> None:
            while True:
                if rng.random() < 0.2:
                    await anyio.sleep(0.0005)
                try:
                    parts.append(await rx.receive())
                except anyio.EndOfStream:
                    break

        tg.start_soon(read)
        view = memoryview(data)
        while tx.bytes_written < len(data):
            start = tx.bytes_written
            with anyio.move_on_after(rng.random() * 0.002) as scope:
                await tx.send(view[start : start + rng.randrange(1, 300_000)])
            cancelled += scope.cancelled_caught
        await tx.aclose()
    await rx.aclose()
    assert b"".join(parts) == data
    assert tx.bytes_written == len(data)


async def test_backpressure_bounds_memory_thread_engine() -> None:
    """A consumer that stops reading stops the producer; the read-ahead stays bounded."""
    r, w = os.pipe()
    rx = receive_stream(RawPipe.from_fd(r), "thread")
    assert isinstance(rx, ThreadReceiveStream)
    written = 0
    stop = threading.Event()

    def produce() -> None:
        nonlocal written
        block = b"x" * 65536
        try:
            while not stop.is_set():
                written += os.write(w, block)
        except OSError:
            pass

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    first = await rx.receive(1)
    await anyio.sleep(0.3)
    level = written
    await anyio.sleep(0.2)
    assert written == level, "the producer should be blocked by a full pipe"
    assert rx.buffered <= DEFAULT_LIMIT
    # Everything the producer wrote is still delivered, in order.
    stop.set()
    got = len(first)
    # Read until the producer's last write went through (it may end right after a check:
    # never wait for data that will not come while the write end is still open).
    while producer.is_alive():
        with anyio.move_on_after(0.05):
            got += len(await rx.receive())
    producer.join()
    os.close(w)
    got += len(await rx.read_all())
    assert got == written
    await rx.aclose()


async def test_backpressure_fd_engine_blocks_send(engine: str) -> None:
    tx, rx = pipe_pair(engine)
    with anyio.move_on_after(0.3) as scope:
        await tx.send(b"y" * (8 << 20))
    assert scope.cancelled_caught
    assert 0 < tx.bytes_written < (8 << 20)
    # What was written is all readable.
    written = tx.bytes_written
    await tx.aclose()
    data = await rx.read_all()
    assert len(data) == written
    await rx.aclose()


async def test_close_wakes_a_blocked_receive(engine: str) -> None:
    tx, rx = pipe_pair(engine)
    outcome: list[type[BaseException]] = []

    async def reader() -> None:
        try:
            await rx.receive()
        except (anyio.ClosedResourceError, anyio.EndOfStream) as exc:
            outcome.append(type(exc))

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        await anyio.sleep(0.05)
        await rx.aclose()
    assert outcome == [anyio.ClosedResourceError]
    await tx.aclose()


async def test_close_wakes_a_blocked_send(engine: str) -> None:
    tx, rx = pipe_pair(engine)
    outcome: list[type[BaseException]] = []

    async def writer() -> None:
        try:
            await tx.send(b"z" * (4 << 20))
        except anyio.ClosedResourceError as exc:
            outcome.append(type(exc))

    async with anyio.create_task_group() as tg:
        tg.start_soon(writer)
        await anyio.sleep(0.05)
        await tx.aclose()
    assert outcome == [anyio.ClosedResourceError]
    await rx.aclose()


async def test_concurrent_receives_are_refused(engine: str) -> None:
    tx, rx = pipe_pair(engine)
    async with anyio.create_task_group() as tg:
        tg.start_soon(rx.receive)
        await anyio.sleep(0.02)
        with pytest.raises(anyio.BusyResourceError):
            await rx.receive()
        await tx.send(b"!")
    await tx.aclose()
    await rx.aclose()


async def test_broken_pipe_is_typed(engine: str) -> None:
    tx, rx = pipe_pair(engine)
    await rx.aclose()
    with pytest.raises(anyio.BrokenResourceError):
        await tx.send(b"q" * 100)
    await tx.aclose()


async def test_after_close_hook_runs_once(engine: str) -> None:
    r, w = os.pipe()
    calls = []

    async def hook() -> None:
        calls.append(1)

    tx = send_stream(RawPipe.from_fd(w), engine, after_close=hook)
    await tx.aclose()
    await tx.aclose()
    assert calls == [1]
    os.close(r)


async def test_no_descriptor_or_thread_leaks(engine: str) -> None:
    before_fds = open_fds()
    before_threads = threading.active_count()
    for _ in range(200):
        tx, rx = pipe_pair(engine)
        await tx.send(b"abc")
        await tx.aclose()
        assert await rx.read_all() == b"abc"
        await rx.aclose()
    for _ in range(50):  # closed without ever being used
        tx, rx = pipe_pair(engine)
        await rx.aclose()
        await tx.aclose()
    deadline = time.monotonic() + 5
    while threading.active_count() > before_threads and time.monotonic() < deadline:
        await anyio.sleep(0.01)
    assert open_fds() == before_fds
    assert threading.active_count() <= before_threads


async def test_garbage_collected_streams_close_their_pipes(engine: str) -> None:
    before = open_fds()
    tx, rx = pipe_pair(engine)
    await tx.send(b"1")
    assert await rx.receive() == b"1"
    del tx, rx
    import gc

    gc.collect()
    deadline = time.monotonic() + 5
    while open_fds() > before and time.monotonic() < deadline:
        await anyio.sleep(0.01)
    assert open_fds() == before


def test_engine_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENGINE_ENV, raising=False)
    assert default_engine() == "fd"
    monkeypatch.setenv(ENGINE_ENV, "thread")
    assert default_engine() == "thread"
    assert resolve_engine(None) == "thread"
    assert resolve_engine("fd") == "fd"
    monkeypatch.setenv(ENGINE_ENV, "bogus")
    with pytest.raises(ValueError, match=ENGINE_ENV):
        default_engine()
    with pytest.raises(ValueError, match="must be 'fd' or 'thread'"):
        resolve_engine("select")
