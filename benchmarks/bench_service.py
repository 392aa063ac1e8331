"""hcsim as a service (``aiohcs hcsim serve``) against in-process hcsim, on the same work.

Each measurement runs in a fresh worker process, once in-process (``AIOHCS_HCSIM`` empty)
and once as a client of a service this script starts (``AIOHCS_HCSIM=socket``),
alternating for ``--rounds`` rounds; the table shows the medians and the ratio service /
in-process of each:

* sequential ``properties()``: one call at a time, µs per call (target: ratio <= 3);
* 1000 ``properties()`` in flight: calls per second;
* process stdout: a process writes SIZE bytes (``head -c``), read through the fd pipe
  engine, MiB/s (target: ratio >= 0.9: the client reads the same descriptor);
* N systems with event streams: create and start N containers, open an event stream on
  each, raise one event on each and receive them all, seconds;
* the RSS of a client (imports aiohcs, opens one system, reads its properties) while
  another client holds N systems, against the same with none held (target: ratio ~1: a
  client's memory does not depend on other clients' systems).

    python benchmarks/bench_service.py            # 256 MiB, 1000 systems, 3 rounds
    python benchmarks/bench_service.py --quick    # 16 MiB, 100 systems, 1 round (CI)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from typing import Any

from _configs import CONTAINER, LINUX
from _report import skip, table

CHUNK = 65536
INFLIGHT = 1000


# ---------------------------------------------------------------- the workers


async def _started(system_id: str, config: dict[str, Any]) -> Any:
    from aiohcs.system import ComputeSystem

    system = await ComputeSystem.create(system_id, config)
    await system.start()
    return system


async def work_sequential(n: int) -> float:
    """µs per sequential properties() call."""
    system = await _started("bench-seq", CONTAINER)
    async with system:
        for _ in range(50):
            await system.properties()
        start = time.perf_counter()
        for _ in range(n):
            await system.properties()
        elapsed = time.perf_counter() - start
        await system.terminate()
    return elapsed / n * 1e6


async def work_inflight(n: int) -> float:
    """properties() calls per second with INFLIGHT in flight."""
    import anyio

    system = await _started("bench-inflight", CONTAINER)
    async with system:
        per_task = max(1, n // INFLIGHT)

        async def worker() -> None:
            for _ in range(per_task):
                await system.properties()

        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(INFLIGHT):
                tg.start_soon(worker)
        elapsed = time.perf_counter() - start
        await system.terminate()
    return per_task * INFLIGHT / elapsed


async def work_stdout(size: int) -> float:
    """MiB/s of a process's stdout through the fd engine."""
    import anyio

    from aiohcs.process import open_process

    system = await _started("bench-stdout", LINUX)
    async with system:
        start = time.perf_counter()
        proc = await open_process(
            system, ["head", "-c", str(size), "/dev/zero"], stdin=None, stderr=None,
            pipe_engine="fd",
        )  # fmt: skip
        async with proc:
            assert proc.stdout is not None
            total = 0
            try:
                while True:
                    total += len(await proc.stdout.receive(CHUNK))
            except anyio.EndOfStream:
                pass
            await proc.wait()
        elapsed = time.perf_counter() - start
        assert total == size, total
        await system.terminate()
    return size / elapsed / 2**20


async def work_events(n: int) -> float:
    """Seconds to create and start n systems, stream their events and get one event each."""
    import anyio

    from aiohcs import testing

    start = time.perf_counter()
    systems = [await _started(f"bench-ev-{i}", CONTAINER) for i in range(n)]
    streams = [system.events() for system in systems]
    got = 0

    async def first(stream: Any) -> None:
        nonlocal got
        async for _ in stream:
            got += 1
            return

    async with anyio.create_task_group() as tg:
        for stream in streams:
            tg.start_soon(first, stream)
        await anyio.sleep(0)
        for system in systems:
            testing.raise_system_event(system.id, 4)  # (RDP enhanced mode changed)
    elapsed = time.perf_counter() - start
    assert got == n
    for system in systems:
        await system.terminate()
        await system.aclose()
    return elapsed


async def work_rss(_: int) -> float:
    """This client's RSS (MiB) after making one system and reading its properties."""
    system = await _started("bench-rss-probe", CONTAINER)
    async with system:
        await system.properties()
        await system.terminate()
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def work_hold(n: int) -> float:
    """Hold n started systems until stdin closes (the other client of the RSS case)."""
    systems = [await _started(f"bench-held-{i}", CONTAINER) for i in range(n)]
    print(json.dumps({"value": len(systems)}), flush=True)
    sys.stdin.read()
    for system in systems:
        await system.terminate()
        await system.aclose()
    return float(n)


WORKERS: dict[str, Callable[[int], Coroutine[Any, Any, float]]] = {
    "sequential": work_sequential,
    "inflight": work_inflight,
    "stdout": work_stdout,
    "events": work_events,
    "rss": work_rss,
    "hold": work_hold,
}


def worker_main(name: str, size: int) -> None:
    import anyio

    value = anyio.run(WORKERS[name], size)
    print(json.dumps({"value": value}), flush=True)


# ---------------------------------------------------------------- the driver


def _env(socket: str | None) -> dict[str, str]:
    return {**os.environ, "AIOHCS_HCSIM": socket or "", "HCSIM_LATENCY": "instant"}


def _worker(
    name: str, size: int, socket: str | None, *, stdin: int | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--worker", name, "--size", str(size)],
        stdin=stdin,
        stdout=subprocess.PIPE,
        env=_env(socket),
        text=True,
    )


def measure(name: str, size: int, socket: str | None) -> float:
    """One measurement in a fresh worker process."""
    proc = _worker(name, size, socket)
    out, _ = proc.communicate(timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"worker {name} ({'service' if socket else 'in-process'}) failed")
    value: float = json.loads(out.splitlines()[-1])["value"]
    return value


def rss_with_held(size: int, socket: str, held: int) -> float:
    """The RSS of a probe client while a holder client holds ``held`` systems."""
    holder = _worker("hold", held, socket, stdin=subprocess.PIPE)
    assert holder.stdout is not None
    holder.stdout.readline()
    try:
        return measure("rss", size, socket)
    finally:
        holder.communicate("", timeout=600)


class Service:
    """``python -m aiohcs hcsim serve`` on a private socket, for the whole run."""

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="hsb-", dir="/tmp")
        self.socket = os.path.join(self.folder, "s.sock")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aiohcs", "hcsim", "serve", "--socket", self.socket],
            stdout=subprocess.PIPE,
            env=_env(None),
            text=True,
        )
        assert self.proc.stdout is not None
        if not self.proc.stdout.readline():
            raise SystemExit("the hcsim service did not start")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one round (CI)")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args.worker, args.size)
        return
    if sys.platform == "win32":
        skip("bench_service", "hcsim's service mode runs on Unix sockets (POSIX only)")
        return
    from aiohcs import _hcsim_service

    if not _hcsim_service.supported():
        skip("bench_service", "this build has no hcsim service mode")
        return
    quick = args.quick
    rounds = args.rounds or (1 if quick else 3)
    mib = 16 if quick else 256
    systems = 100 if quick else 1000
    cases = [
        ("sequential properties()", "sequential", 500 if quick else 5000, "µs/call"),
        (f"{INFLIGHT} properties() in flight", "inflight", 5000 if quick else 50000, "calls/s"),
        (f"process stdout, {mib} MiB", "stdout", mib << 20, "MiB/s"),
        (f"{systems} systems with event streams", "events", systems, "s"),
    ]
    service = Service()
    try:
        rows: list[list[Any]] = []
        for title, name, size, unit in cases:
            local, remote = [], []
            for _ in range(rounds):
                local.append(measure(name, size, None))
                remote.append(measure(name, size, service.socket))
            ours, base = statistics.median(remote), statistics.median(local)
            rows.append([title, unit, base, ours, ours / base])
        alone = [rss_with_held(0, service.socket, 0) for _ in range(rounds)]
        crowded = [rss_with_held(0, service.socket, systems) for _ in range(rounds)]
        base, ours = statistics.median(alone), statistics.median(crowded)
        rows.append([f"client RSS, another client holds {systems} systems (vs 0)", "MiB",
                     base, ours, ours / base])  # fmt: skip
    finally:
        service.close()
    table(
        f"hcsim service vs in-process hcsim (medians of {rounds} round(s), fresh processes)",
        ["case", "unit", "in-process", "service", "ratio"],
        rows,
    )


if __name__ == "__main__":
    main()
