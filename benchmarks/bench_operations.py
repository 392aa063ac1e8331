"""Operation throughput: ``await system.properties()`` against the alternatives, in one run.

* raw: the plain cffi call + a blocking ``HcsWaitForOperationResult`` + parsing the document
  into the same ``aiohcs.schema.Properties`` model (a sync program getting the same result);
* aiohcs: the callback bridge (completion callback → C queue → waiter). Sequentially the
  loop has nothing else to do and hcsim completes within microseconds, so aiohcs polls:
  the task that started the operation waits for its completion in C for a short window
  (``LoopBridge.poll``), then yields one turn to the loop;
* aiohcs, polling off: the path every completion takes when the loop is busy or the
  operations are slow — the callback writes the wake byte, the loop wakes in its selector,
  drains the queue and wakes the task;
* thread-per-operation: ``anyio.to_thread.run_sync`` around the blocking call (the design
  aiohcs avoids), with a 1000-thread limiter and with anyio's default limiter (40);
* wake-up floor (sequential only): the least the wake-up path can cost on this loop — the
  bridge's C completion callback, queue and wake socket, one bare future (asyncio) or
  ``wait_readable`` (trio; on the Windows proactor loop, which has no reader callbacks, an
  overlapped ``sock_recv`` as the bridge's own drain task does there), and the same
  parsing, with none of aiohcs' Python around it.
  Its distance from raw is the price of that hop (the loop sleeps in epoll until the wake
  byte comes), not of aiohcs.

Sequentially and with 1000 operations in flight. Targets: aiohcs ≤ 1.5x raw sequentially;
≥ 3x the thread-per-operation throughput at 1000 in flight.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import anyio
import anyio.to_thread
from _common import RawSystem, median, parse_args, require_emulator, table

from aiohcs._bridge import current_bridge
from aiohcs.system import ComputeSystem


def bench_raw_sequential(raw: RawSystem, n: int) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        raw.blocking_properties()
        times.append(time.perf_counter() - t0)
    return times


def bench_raw_inflight(raw: RawSystem, n: int, inflight: int) -> float:
    """Ops/s when ``inflight`` operations are started, then waited for, repeatedly."""
    done = 0
    t0 = time.perf_counter()
    while done < n:
        ops = [raw.start_properties() for _ in range(inflight)]
        for op in ops:
            raw.finish(op)
        done += inflight
    return done / (time.perf_counter() - t0)


class Floor:
    """The minimal callback round trip through the bridge's C side (see the module doc)."""

    def __init__(self, raw: RawSystem) -> None:
        import socket

        import sniffio

        from aiohcs._native import ffi, lib

        self.ffi, self.lib, self.handle = ffi, lib, raw.handle
        self.rsock, self.wsock = socket.socketpair()
        self.rsock.setblocking(False)
        self.wsock.setblocking(False)
        self.queue = lib.aiohcs_queue_new(self.wsock.fileno())
        self.items = ffi.new("aiohcs_item[]", 16)
        self.ident = ffi.new("uint64_t *")
        self.trio = sniffio.current_async_library() == "trio"
        self.drain_wake = hasattr(lib, "aiohcs_queue_drain_wake")
        self.future: Any = None
        #: asyncio without add_reader (Windows' proactor loop): receive the wake bytes with
        #: the loop's own socket I/O, as the bridge's portable drain task does there.
        self.proactor = False
        if not self.trio:
            import asyncio

            self.loop = asyncio.get_running_loop()
            try:
                self.loop.add_reader(self.rsock.fileno(), self._on_readable)
            except NotImplementedError:
                self.proactor = True

    def _take(self) -> str | None:
        lib, ffi = self.lib, self.ffi
        if self.drain_wake:
            n = lib.aiohcs_queue_drain_wake(self.queue, self.rsock.fileno(), self.items, 16)
        else:  # (an older bridge, to measure a baseline)
            with contextlib.suppress(BlockingIOError):
                self.rsock.recv(4096)
            n = lib.aiohcs_queue_drain(self.queue, self.items, 16)
        text = None
        for i in range(n):
            item = self.items[i]
            if item.payload != ffi.NULL:
                text = ffi.unpack(item.payload, item.payload_length)
        lib.aiohcs_items_release(self.items, n)
        return text if n else ""

    def _on_readable(self) -> None:
        text = self._take()
        if text != "" and self.future is not None:
            self.future.set_result(text)

    async def properties(self) -> Any:
        from _common import _parse_properties

        lib, ffi = self.lib, self.ffi
        if self.drain_wake:
            op = lib.aiohcs_register_operation(self.queue, lib.AIOHCS_REGISTER_ONESHOT, self.ident)
        else:
            op = lib.aiohcs_create_operation(lib.aiohcs_register(self.queue, 0))
        if self.trio:
            import trio

            lib.HcsGetComputeSystemProperties(self.handle, op, ffi.NULL)
            while True:
                await trio.lowlevel.wait_readable(self.rsock)
                text = self._take()
                if text != "":
                    return _parse_properties(text)
        if self.proactor:
            lib.HcsGetComputeSystemProperties(self.handle, op, ffi.NULL)
            while True:
                await self.loop.sock_recv(self.rsock, 256)
                text = self._take()
                if text != "":
                    return _parse_properties(text)
        self.future = self.loop.create_future()
        lib.HcsGetComputeSystemProperties(self.handle, op, ffi.NULL)
        return _parse_properties(await self.future)

    def close(self) -> None:
        if not self.trio and not self.proactor:
            self.loop.remove_reader(self.rsock.fileno())
        self.lib.aiohcs_queue_free(self.queue)
        self.rsock.close()
        self.wsock.close()


async def aiohcs_numbers(
    rounds: int, n: int, total: int, inflight: int, raw: RawSystem
) -> dict[str, float]:
    """Measure every path in interleaved blocks/rounds; return the medians.

    The machine's load changes while we measure, so the ratios are taken per block/round.
    """
    per: dict[str, list[float]] = {
        k: []
        for k in (
            "raw_seq",
            "seq",
            "seq_ratio",
            "raw_p50",
            "p50",
            "p50_ratio",
            "nopoll",
            "nopoll_ratio",
            "floor",
            "floor_ratio",
            "raw_inflight",
            "inflight",
            "threads1000",
            "threads40",
            "inflight_ratio",
        )
    }
    per_task = max(1, total // inflight)
    floor = Floor(raw)
    async with await ComputeSystem.open(raw.id) as system:

        async def worker(count: int) -> None:
            for _ in range(count):
                await system.properties()

        async def thread_worker(count: int, limiter: anyio.CapacityLimiter) -> None:
            for _ in range(count):
                await anyio.to_thread.run_sync(raw.blocking_properties, limiter=limiter)

        limiters = {
            "threads1000": anyio.CapacityLimiter(inflight),
            "threads40": anyio.CapacityLimiter(40),
        }
        for _ in range(50):  # warm-up (drain task)
            await system.properties()
            await floor.properties()

        # Sequential: short alternating blocks (raw, aiohcs, floor), so that the load of
        # the machine, which changes from second to second, hits all three alike; the
        # ratios are taken per block.
        blocks, size = rounds * 5, max(20, n // 5)
        raw_all: list[float] = []
        aio_all: list[float] = []
        for _ in range(blocks):
            # The raw loop blocks this thread, as a sync program would.
            raw_times = bench_raw_sequential(raw, size)
            times = []
            for _ in range(size):
                t0 = time.perf_counter()
                await system.properties()
                times.append(time.perf_counter() - t0)
            current_bridge().completion_time.enabled = False
            t0 = time.perf_counter()
            for _ in range(size):
                await system.properties()
            nopoll = (time.perf_counter() - t0) / size
            current_bridge().completion_time.enabled = True
            t0 = time.perf_counter()
            for _ in range(size):
                await floor.properties()
            floor_seq = (time.perf_counter() - t0) / size
            raw_seq, seq = sum(raw_times) / size, sum(times) / size
            raw_all += raw_times
            aio_all += times
            per["raw_seq"].append(raw_seq)
            per["seq"].append(seq)
            per["seq_ratio"].append(seq / raw_seq)
            per["nopoll"].append(nopoll)
            per["nopoll_ratio"].append(nopoll / raw_seq)
            per["floor"].append(floor_seq)
            per["floor_ratio"].append(floor_seq / raw_seq)
        per["raw_p50"].append(median(raw_all))
        per["p50"].append(median(aio_all))
        per["p50_ratio"].append(median(aio_all) / median(raw_all))

        for limiter in limiters.values():  # warm the thread pools
            async with anyio.create_task_group() as tg:
                for _ in range(int(limiter.total_tokens)):
                    tg.start_soon(thread_worker, 1, limiter)

        for _ in range(rounds):
            per["raw_inflight"].append(bench_raw_inflight(raw, total, inflight))
            t0 = time.perf_counter()
            async with anyio.create_task_group() as tg:
                for _ in range(inflight):
                    tg.start_soon(worker, per_task)
            per["inflight"].append(per_task * inflight / (time.perf_counter() - t0))
            for label, limiter in limiters.items():
                t0 = time.perf_counter()
                async with anyio.create_task_group() as tg:
                    for _ in range(inflight):
                        tg.start_soon(thread_worker, per_task, limiter)
                per[label].append(per_task * inflight / (time.perf_counter() - t0))
            per["inflight_ratio"].append(per["inflight"][-1] / per["threads1000"][-1])
    floor.close()
    return {k: median(v) for k, v in per.items()}


def main() -> None:
    args = parse_args(__doc__ or "")
    rounds, n, total, inflight = (3, 100, 1000, 1000) if args.quick else (7, 500, 5000, 1000)
    require_emulator()
    raw = RawSystem("bench-ops")
    try:
        results = {
            b: anyio.run(aiohcs_numbers, rounds, n, total, inflight, raw, backend=b)
            for b in ("asyncio", "trio")
        }
    finally:
        raw.close()
    raw_seq = median([r["raw_seq"] for r in results.values()])
    raw_p50 = median([r["raw_p50"] for r in results.values()])
    raw_inflight = median([r["raw_inflight"] for r in results.values()])

    rows: list[list[Any]] = [
        ["raw cffi + HcsWaitForOperationResult", raw_seq * 1e6, 1.0, raw_p50 * 1e6, 1.0, "-"]
    ]
    for backend, r in results.items():
        rows.append(
            [
                f"aiohcs await properties() [{backend}]",
                r["seq"] * 1e6,
                r["seq_ratio"],
                r["p50"] * 1e6,
                r["p50_ratio"],
                "<= 1.5",
            ]
        )
    for backend, r in results.items():
        rows.append(
            [
                f"aiohcs, polling off (wake-up path) [{backend}]",
                r["nopoll"] * 1e6,
                r["nopoll_ratio"],
                "-",
                "-",
                "-",
            ]
        )
    for backend, r in results.items():
        rows.append(
            [
                f"wake-up floor: C callback + wake + bare wait [{backend}]",
                r["floor"] * 1e6,
                r["floor_ratio"],
                "-",
                "-",
                "-",
            ]
        )
    table(
        f"sequential: one properties() at a time (medians of {rounds * 5} interleaved blocks)",
        ["path", "mean us/op", "x raw", "p50 us", "p50 x raw", "target"],
        rows,
    )

    rows = [["raw: start 1000, then wait each", raw_inflight, 1.0, "-", "-"]]
    for backend, r in results.items():
        rows.append(
            [
                f"aiohcs, 1000 tasks [{backend}]",
                r["inflight"],
                r["inflight"] / raw_inflight,
                r["inflight_ratio"],
                ">= 3 x thread-per-op",
            ]
        )
        rows.append(
            [
                f"to_thread per op, 1000 threads [{backend}]",
                r["threads1000"],
                r["threads1000"] / raw_inflight,
                1.0,
                "",
            ]
        )
        rows.append(
            [
                f"to_thread per op, 40 threads [{backend}]",
                r["threads40"],
                r["threads40"] / raw_inflight,
                r["threads40"] / r["threads1000"],
                "",
            ]
        )
    table(
        f"throughput with {inflight} operations in flight",
        ["path", "ops/s", "x raw", "x thread-per-op", "target"],
        rows,
    )


if __name__ == "__main__":
    main()
