"""Event latency: HCS event callback → the task that awaits the event.

aiohcs: the C callback copies the event into the loop's C queue and writes a wake byte; the
drain task dispatches it to the iterator. Baseline: a Python callback (cffi ``ffi.callback``)
registered on a second handle of the same system, which — running on the HCS thread —
calls ``loop.call_soon_threadsafe`` (asyncio) / ``TrioToken.run_sync_soon`` (trio).

Events are raised with HcsimRaiseSystemEvent from the loop, one at a time; the latency is
measured from just before the raise to the moment the awaiting task runs (both paths see
the same hcsim dispatch). aiohcs also reports callback → task (the C callback's timestamp).
Measured with an idle process and with a CPU-bound Python thread competing for the GIL.
Target: aiohcs p99 ≤ 2x the baseline p99.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
from _common import CONTAINER, check, parse_args, percentile, require_emulator, table

from aiohcs._bridge import now_ns
from aiohcs._native import ffi, hcsim, lib, to_wide
from aiohcs.system import ComputeSystem

EVENT_TYPE = 6  # SystemGuestConnectionClosed: no side effects


def raise_event(w_id: Any, payload: Any) -> None:
    check(hcsim.HcsimRaiseSystemEvent(ffi.NULL, w_id, EVENT_TYPE, payload))


async def measure(n: int, backend: str) -> dict[str, list[float]]:
    w_id = to_wide("bench-ev")
    out: dict[str, list[float]] = {"aiohcs": [], "aiohcs_cb": [], "baseline": []}
    async with await ComputeSystem.create("bench-ev", CONTAINER) as system:
        await system.start()
        # --- aiohcs path
        stream = system.events()
        for _ in range(50):
            raise_event(w_id, ffi.NULL)
            await stream.__anext__()
        for _ in range(n):
            t0 = now_ns()
            raise_event(w_id, ffi.NULL)
            event = await stream.__anext__()
            t1 = now_ns()
            out["aiohcs"].append((t1 - t0) / 1e3)
            assert event.timestamp_ns is not None
            out["aiohcs_cb"].append((t1 - event.timestamp_ns) / 1e3)
        await stream.aclose()

        # --- baseline: a Python callback on an HCS thread + call_soon_threadsafe
        handle = ffi.new("HCS_SYSTEM *")
        check(lib.HcsOpenComputeSystem(w_id, 0x10000000, handle))
        waiter: list[Any] = [None]
        if backend == "asyncio":
            import asyncio

            loop = asyncio.get_running_loop()

            def notify(fire: Callable[[], None]) -> None:
                loop.call_soon_threadsafe(fire)

        else:
            token = anyio.lowlevel.current_token().native_token

            def notify(fire: Callable[[], None]) -> None:
                token.run_sync_soon(fire)  # type: ignore[attr-defined]

        def fire() -> None:
            event = waiter[0]
            if event is not None:
                waiter[0] = None
                event.set()

        def on_event(event: Any, context: Any) -> None:
            if event.EventData != ffi.NULL:
                ffi.string(event.EventData)
            notify(fire)

        callback = ffi.callback("HCS_EVENT_CALLBACK", on_event)

        check(lib.HcsSetComputeSystemCallback(handle[0], 0, ffi.NULL, callback))
        try:
            for i in range(n + 50):
                ev = anyio.Event()
                waiter[0] = ev
                t0 = now_ns()
                raise_event(w_id, ffi.NULL)
                await ev.wait()
                if i >= 50:
                    out["baseline"].append((now_ns() - t0) / 1e3)
        finally:
            await anyio.to_thread.run_sync(lib.HcsCloseComputeSystem, handle[0])
        await system.terminate()
    return out


def spin(stop: threading.Event) -> None:
    x = 0
    while not stop.is_set():
        for i in range(10000):
            x += i


def main() -> None:
    args = parse_args(__doc__ or "")
    n = 300 if args.quick else 3000
    require_emulator()
    rows: list[list[Any]] = []
    for load in ("idle", "GIL-busy thread"):
        for backend in ("asyncio", "trio"):
            stop = threading.Event()
            spinner = threading.Thread(target=spin, args=(stop,), daemon=True)
            if load != "idle":
                spinner.start()
            try:
                r = anyio.run(measure, n, backend, backend=backend)
            finally:
                stop.set()
                if spinner.is_alive():
                    spinner.join()
            base50, base99 = percentile(r["baseline"], 50), percentile(r["baseline"], 99)
            for label, key in (
                ("aiohcs: raise -> task", "aiohcs"),
                ("aiohcs: C callback -> task", "aiohcs_cb"),
                ("baseline: call_soon_threadsafe", "baseline"),
            ):
                p50, p99 = percentile(r[key], 50), percentile(r[key], 99)
                rows.append([f"{backend}, {load}", label, p50, p99, p50 / base50, p99 / base99])
    table(
        "event latency (microseconds); ratios against the call_soon_threadsafe baseline "
        "(target: aiohcs p99 <= 2x)",
        ["loop, load", "path", "p50 us", "p99 us", "p50 x base", "p99 x base"],
        rows,
    )


if __name__ == "__main__":
    main()
