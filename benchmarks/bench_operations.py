"""Operation throughput: ``await system.properties()`` against the alternatives, in one run.

* raw: the plain cffi call + a blocking ``HcsWaitForOperationResult`` (a sync program);
* aiohcs: the callback bridge (completion callback → C queue → drain task → waiter);
* thread-per-operation: ``anyio.to_thread.run_sync`` around the blocking call (the design
  aiohcs avoids), with a 1000-thread limiter and with anyio's default limiter (40).

Sequentially and with 1000 operations in flight. Targets: aiohcs ≤ 1.5x raw sequentially;
≥ 3x the thread-per-operation throughput at 1000 in flight.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import anyio.to_thread
from _common import RawSystem, parse_args, require_emulator, table

from aiohcs.system import ComputeSystem


def bench_raw_sequential(raw: RawSystem, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        raw.blocking_properties()
    return (time.perf_counter() - t0) / n


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


async def aiohcs_numbers(n: int, total: int, inflight: int, raw: RawSystem) -> dict[str, float]:
    out: dict[str, float] = {}
    async with await ComputeSystem.open(raw.id) as system:
        for _ in range(50):  # warm-up (drain task, thread pool)
            await system.properties()
        t0 = time.perf_counter()
        for _ in range(n):
            await system.properties()
        out["seq"] = (time.perf_counter() - t0) / n

        async def worker(count: int) -> None:
            for _ in range(count):
                await system.properties()

        per_task = max(1, total // inflight)
        t0 = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(inflight):
                tg.start_soon(worker, per_task)
        out["inflight"] = per_task * inflight / (time.perf_counter() - t0)

        for label, tokens in (("threads1000", inflight), ("threads40", 40)):
            limiter = anyio.CapacityLimiter(tokens)

            async def thread_worker(count: int, limiter: Any = limiter) -> None:
                for _ in range(count):
                    await anyio.to_thread.run_sync(raw.blocking_properties, limiter=limiter)

            # warm the pool
            async with anyio.create_task_group() as tg:
                for _ in range(min(tokens, inflight)):
                    tg.start_soon(thread_worker, 1)
            t0 = time.perf_counter()
            async with anyio.create_task_group() as tg:
                for _ in range(inflight):
                    tg.start_soon(thread_worker, per_task)
            out[label] = per_task * inflight / (time.perf_counter() - t0)
    return out


def main() -> None:
    args = parse_args(__doc__ or "")
    n, total, inflight = (300, 2000, 1000) if args.quick else (3000, 20000, 1000)
    require_emulator()
    raw = RawSystem("bench-ops")
    try:
        raw_seq = bench_raw_sequential(raw, n)
        raw_inflight = bench_raw_inflight(raw, total, inflight)
        results = {
            b: anyio.run(aiohcs_numbers, n, total, inflight, raw, backend=b)
            for b in ("asyncio", "trio")
        }
    finally:
        raw.close()

    rows: list[list[Any]] = [["raw cffi + HcsWaitForOperationResult", raw_seq * 1e6, 1.0, "-"]]
    for backend, r in results.items():
        rows.append(
            [f"aiohcs await properties() [{backend}]", r["seq"] * 1e6, r["seq"] / raw_seq, "<= 1.5"]
        )
    table("sequential: one properties() at a time", ["path", "us/op", "x raw", "target"], rows)

    rows = [["raw: start 1000, then wait each", raw_inflight, 1.0, "-", "-"]]
    for backend, r in results.items():
        rows.append(
            [
                f"aiohcs, 1000 tasks [{backend}]",
                r["inflight"],
                r["inflight"] / raw_inflight,
                r["inflight"] / r["threads1000"],
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
