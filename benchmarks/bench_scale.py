"""Scale: many live systems, each with an open event iterator being consumed.

Reports the thread count (Python threads and OS threads, hcsim's workers included), the
Python memory per system (tracemalloc: ComputeSystem + event hub + iterator + the task
consuming it), and the loop lag p99 while 100 creates are in flight with hcsim configured
to make every call's synchronous part take 1 ms (target ≤ 5 ms). The lag is wall-clock
time, so it also shows garbage-collection pauses and other processes taking the CPU: the
last table gives the loop thread's CPU per create, the collections during the bursts and
the lag p99 of the samples that no collection overlapped.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
import tracemalloc
from typing import Any

import anyio
from _common import CONTAINER, check, parse_args, percentile, require_emulator, table

from aiohcs.events import EventStream
from aiohcs.system import ComputeSystem


def os_threads() -> int:
    """The OS threads of this process (-1 if unknown)."""
    if sys.platform == "win32":
        return _windows_threads()
    try:
        with open(f"/proc/{os.getpid()}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def _windows_threads() -> int:
    """Threads of this process in a toolhelp snapshot (Windows has no /proc)."""
    import ctypes
    from ctypes import wintypes

    class ThreadEntry(ctypes.Structure):
        _fields_ = [
            ("dwSize", wintypes.DWORD),
            ("cntUsage", wintypes.DWORD),
            ("th32ThreadID", wintypes.DWORD),
            ("th32OwnerProcessID", wintypes.DWORD),
            ("tpBasePri", wintypes.LONG),
            ("tpDeltaPri", wintypes.LONG),
            ("dwFlags", wintypes.DWORD),
        ]

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    kernel32.CreateToolhelp32Snapshot.restype = wintypes.HANDLE
    snapshot = kernel32.CreateToolhelp32Snapshot(0x4, 0)  # TH32CS_SNAPTHREAD
    if snapshot in (None, wintypes.HANDLE(-1).value):
        return -1
    try:
        entry = ThreadEntry()
        entry.dwSize = ctypes.sizeof(ThreadEntry)
        pid, count = os.getpid(), 0
        more = kernel32.Thread32First(wintypes.HANDLE(snapshot), ctypes.byref(entry))
        while more:
            count += entry.th32OwnerProcessID == pid
            more = kernel32.Thread32Next(wintypes.HANDLE(snapshot), ctypes.byref(entry))
        return count
    finally:
        kernel32.CloseHandle(wintypes.HANDLE(snapshot))


async def consume(stream: EventStream, seen: list[int]) -> None:
    async for _ in stream:
        seen[0] += 1


async def lag_probe(
    stop: anyio.Event,
    lags: list[float],
    period: float = 0.001,
    spans: list[tuple[float, float]] | None = None,
) -> None:
    # perf_counter, not the loop's clock: asyncio's is time.monotonic, which ticks in
    # milliseconds (or 15.6 ms) on Windows.
    while not stop.is_set():
        p0 = time.perf_counter()
        await anyio.sleep(period)
        p1 = time.perf_counter()
        lags.append((p1 - p0 - period) * 1000)
        if spans is not None:
            spans.append((p0, p1))


class GcWatch:
    """Garbage collections (perf_counter start, end) while active, to attribute lag to GC."""

    def __init__(self) -> None:
        self.pauses: list[tuple[float, float]] = []
        self._start = 0.0

    def __enter__(self) -> GcWatch:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.pauses.append((self._start, time.perf_counter()))

    def overlaps(self, span: tuple[float, float]) -> bool:
        return any(a < span[1] and b > span[0] for a, b in self.pauses)


async def run(n: int, creates: int, bursts: int, duration: float) -> dict[str, Any]:
    from aiohcs._native import hcsim

    out: dict[str, Any] = {"threads_before": (threading.active_count(), os_threads())}
    systems: list[ComputeSystem] = []
    seen = [0]
    async with anyio.create_task_group() as tg:
        # Warm up the bridge and the worker-thread pool before measuring memory.
        warm = await ComputeSystem.create("warm", CONTAINER)
        await warm.terminate()
        await warm.aclose()
        tracemalloc.start()
        snap0 = tracemalloc.take_snapshot()
        for i in range(n):
            system = await ComputeSystem.create(f"scale-{i}", CONTAINER)
            systems.append(system)
            tg.start_soon(consume, system.events(), seen)
        await anyio.sleep(0.1)
        snap1 = tracemalloc.take_snapshot()
        tracemalloc.stop()
        diff = sum(s.size_diff for s in snap1.compare_to(snap0, "filename"))
        out["bytes_per_system"] = diff / n
        out["threads_live"] = (threading.active_count(), os_threads())

        # Loop lag while `creates` creates are in flight, 1 ms synchronous latency per call.
        check(hcsim.HcsimSetDelay(b"*", 0, 1))
        idle_lags: list[float] = []
        stop = anyio.Event()
        async with anyio.create_task_group() as probe:
            probe.start_soon(lag_probe, stop, idle_lags)
            await anyio.sleep(0.3)
            stop.set()
        # (a) The scenario of the target: bursts of `creates` concurrent creates (repeated
        # so that the lag percentiles rest on enough samples), measured during the bursts.
        burst_config = dict(CONTAINER, ShouldTerminateOnLastHandleClosed=True)
        lags: list[float] = []
        spans: list[tuple[float, float]] = []
        burst_times: list[float] = []
        watch = GcWatch().__enter__()
        cpu0 = time.thread_time()
        for round_ in range(bursts):
            stop = anyio.Event()

            async def create(i: int, round_: int = round_) -> None:
                system = await ComputeSystem.create(f"burst-{round_}-{i}", burst_config)
                await system.aclose()

            t0 = time.perf_counter()
            async with anyio.create_task_group() as probe:
                probe.start_soon(lag_probe, stop, lags, 0.001, spans)
                async with anyio.create_task_group() as burst:
                    for i in range(creates):
                        burst.start_soon(create, i)
                stop.set()
            burst_times.append(time.perf_counter() - t0)
            await anyio.sleep(0.02)
        # The loop thread's CPU per create (+ close), including the probe and the pauses.
        out["cpu_per_create_us"] = (time.thread_time() - cpu0) / (bursts * creates) * 1e6
        watch.__exit__()
        out["burst_ms"] = percentile(burst_times, 50) * 1000
        out["gc"] = (
            len(watch.pauses),
            max((b - a for a, b in watch.pauses), default=0.0) * 1000,
            percentile(
                [lag for lag, span in zip(lags, spans, strict=True) if not watch.overlaps(span)],
                99,
            ),
        )

        # (b) Saturation: `creates` workers creating and closing systems back to back for
        # `duration` seconds (the loop is then busy all the time: lag = queueing).
        sat_lags: list[float] = []
        stop = anyio.Event()
        created = [0]

        async def create_loop(i: int) -> None:
            k = 0
            while not stop.is_set():
                system = await ComputeSystem.create(f"sat-{i}-{k}", burst_config)
                await system.aclose()
                created[0] += 1
                k += 1

        async with anyio.create_task_group() as probe:
            probe.start_soon(lag_probe, stop, sat_lags)
            async with anyio.create_task_group() as burst:
                for i in range(creates):
                    burst.start_soon(create_loop, i)
                await anyio.sleep(duration)
                stop.set()
        out["creates_per_s"] = created[0] / duration
        out["lag_saturated"] = (
            percentile(sat_lags, 50),
            percentile(sat_lags, 99),
            max(sat_lags),
            len(sat_lags),
        )
        check(hcsim.HcsimSetDelay(b"*", 0, 0))
        out["lag_idle"] = (percentile(idle_lags, 50), percentile(idle_lags, 99))
        out["lag_burst"] = (percentile(lags, 50), percentile(lags, 99), max(lags), len(lags))
        out["threads_burst"] = (threading.active_count(), os_threads())

        # Tear down: terminate everything; every iterator ends with SystemExited.
        async def finish(system: ComputeSystem) -> None:
            await system.terminate()
            await system.wait()
            await system.aclose()

        async with anyio.create_task_group() as teardown:
            for system in systems:
                teardown.start_soon(finish, system)
    out["events_seen"] = seen[0]
    return out


def main() -> None:
    args = parse_args(__doc__ or "")
    n, creates, bursts, duration = (200, 100, 5, 0.5) if args.quick else (1000, 100, 30, 3.0)
    require_emulator()
    rows: list[list[Any]] = []
    lag_rows: list[list[Any]] = []
    gc_rows: list[list[Any]] = []
    for backend in ("asyncio", "trio"):
        check(__import__("aiohcs._native", fromlist=["hcsim"]).hcsim.HcsimReset())
        r = anyio.run(run, n, creates, bursts, duration, backend=backend)
        assert r["events_seen"] == n, r["events_seen"]
        rows.append(
            [
                backend,
                n,
                *r["threads_before"],
                *r["threads_live"],
                *r["threads_burst"],
                r["bytes_per_system"] / 1024,
            ]
        )
        lag_rows.append(
            [
                backend,
                f"{bursts} bursts of {creates}",
                creates / r["burst_ms"] * 1000,
                r["burst_ms"],
                r["lag_burst"][3],
                r["lag_idle"][1],
                r["lag_burst"][0],
                r["lag_burst"][1],
                r["lag_burst"][2],
                r["lag_burst"][1] / 5.0,
            ]
        )
        gc_rows.append(
            [
                backend,
                r["cpu_per_create_us"],
                r["gc"][0],
                r["gc"][1],
                r["gc"][2],
            ]
        )
        lag_rows.append(
            [
                backend,
                f"{creates} workers, back to back",
                r["creates_per_s"],
                "-",
                r["lag_saturated"][3],
                r["lag_idle"][1],
                r["lag_saturated"][0],
                r["lag_saturated"][1],
                r["lag_saturated"][2],
                r["lag_saturated"][1] / 5.0,
            ]
        )
    table(
        f"{n} live systems, one event iterator each",
        [
            "loop",
            "systems",
            "py thr before",
            "os thr before",
            "py thr live",
            "os thr live",
            "py thr burst",
            "os thr burst",
            "KiB/system",
        ],
        rows,
    )
    table(
        "loop lag (ms) with 1 ms synchronous latency per HCS call (target p99 <= 5 ms)",
        [
            "loop",
            "creates in flight",
            "creates/s",
            "burst ms",
            "samples",
            "idle p99",
            "p50",
            "p99",
            "max",
            "p99 / target",
        ],
        lag_rows,
    )
    table(
        f"during the {bursts} bursts: loop-thread CPU, and the lag garbage collection explains",
        [
            "loop",
            "loop CPU us/create",
            "collections",
            "longest ms",
            "lag p99 of samples without a collection",
        ],
        gc_rows,
    )


if __name__ == "__main__":
    main()
