"""Process stdio throughput: aiohcs (both pipe engines, on hcsim) vs asyncio subprocesses.

Streams SIZE bytes from a process's stdout (``head -c SIZE /dev/zero``) and SIZE bytes
into a process's stdin (``dd of=/dev/null``), through ``aiohcs`` and through
``asyncio.create_subprocess_exec`` running the same command in the same run, and prints
the throughput and the ratio aiohcs / asyncio (target: >= 0.9 for the fd engine).

On Windows (hcsim's DLLs, e.g. under Wine) the commands are this interpreter running the
same loops (``head`` and ``dd`` do not exist there), the baseline is asyncio's subprocess
on the proactor loop (overlapped named pipes), and only the thread engine runs (the fd
engine is POSIX-only: reported as skipped).

    python benchmarks/bench_process_stdio.py            # 256 MiB, best of 3
    python benchmarks/bench_process_stdio.py --quick    # 16 MiB (CI)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import anyio
from _configs import LINUX
from _report import skip, table

from aiohcs._pipes import ENGINES
from aiohcs.process import open_process
from aiohcs.system import ComputeSystem

CHUNK = 65536


def _python(code: str) -> list[str]:
    return [sys.executable, "-I", "-S", "-c", code]


if sys.platform == "win32":

    def _reader_command(size: int) -> list[str]:
        """A process writing ``size`` zero bytes (a multiple of CHUNK) to its stdout."""
        return _python(
            f"import sys;w=sys.stdout.buffer.write;b=bytes({CHUNK});"
            f"[w(b) for _ in range({size // CHUNK})]"
        )

    #: A process reading its stdin to the end and dropping it.
    _WRITER_COMMAND = _python(
        "import sys;r=sys.stdin.buffer.raw.read;[0 for _ in iter(lambda:r(1<<20),b'')]"
    )
else:

    def _reader_command(size: int) -> list[str]:
        """A process writing ``size`` zero bytes to its stdout."""
        return ["head", "-c", str(size), "/dev/zero"]

    #: A process reading its stdin to the end and dropping it.
    _WRITER_COMMAND = ["dd", "of=/dev/null", "bs=1M", "status=none"]


async def asyncio_stdout(size: int) -> float:
    start = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *_reader_command(size), stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    total = 0
    while chunk := await proc.stdout.read(CHUNK):
        total += len(chunk)
    await proc.wait()
    assert total == size
    return time.perf_counter() - start


async def asyncio_stdin(size: int) -> float:
    block = bytes(CHUNK)
    start = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(*_WRITER_COMMAND, stdin=asyncio.subprocess.PIPE)
    assert proc.stdin is not None
    for _ in range(size // CHUNK):
        proc.stdin.write(block)
        await proc.stdin.drain()
    proc.stdin.close()
    await proc.wait()
    return time.perf_counter() - start


async def aiohcs_stdout(system: ComputeSystem, engine: str, size: int) -> float:
    start = time.perf_counter()
    proc = await open_process(
        system, _reader_command(size), stdin=None, stderr=None, pipe_engine=engine
    )
    async with proc:
        assert proc.stdout is not None
        total = 0
        receive = proc.stdout.receive
        try:
            while True:
                total += len(await receive(CHUNK))
        except anyio.EndOfStream:
            pass
        await proc.wait()
    assert total == size
    return time.perf_counter() - start


async def aiohcs_stdin(system: ComputeSystem, engine: str, size: int) -> float:
    block = bytes(CHUNK)
    start = time.perf_counter()
    proc = await open_process(system, _WRITER_COMMAND, stdout=None, stderr=None, pipe_engine=engine)
    async with proc:
        assert proc.stdin is not None
        send = proc.stdin.send
        for _ in range(size // CHUNK):
            await send(block)
        await proc.stdin.aclose()
        assert await proc.wait() == 0
    return time.perf_counter() - start


async def run(size: int, repeat: int) -> list[tuple[str, str, float, float]]:
    rows: list[tuple[str, str, float, float]] = []
    system = await ComputeSystem.create("bench-stdio", LINUX)
    async with system:
        await system.start()
        try:
            for direction in ("stdout", "stdin"):
                base_fn = asyncio_stdout if direction == "stdout" else asyncio_stdin
                ours_fn = aiohcs_stdout if direction == "stdout" else aiohcs_stdin
                base = min([await base_fn(size) for _ in range(repeat)])
                for engine in ENGINES:
                    ours = min([await ours_fn(system, engine, size) for _ in range(repeat)])
                    rows.append((direction, engine, size / ours, size / base))
        finally:
            await system.terminate()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16 MiB instead of 256 MiB")
    parser.add_argument("--size-mib", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    mib = args.size_mib or (16 if args.quick else 256)
    for engine in {"fd", "thread"} - set(ENGINES):
        skip(f"the {engine} engine", "POSIX-only (file descriptors); Windows has the thread one")
    loop = asyncio.new_event_loop()
    baseline = f"asyncio subprocess on {type(loop).__name__}"
    loop.close()
    rows = asyncio.run(run(mib << 20, args.repeat))
    table(
        f"process stdio throughput, {mib} MiB, best of {args.repeat}, against {baseline}",
        ["direction", "engine", "aiohcs MiB/s", "asyncio MiB/s", "ratio"],
        [
            [direction, engine, ours / 2**20, base / 2**20, ours / base]
            for direction, engine, ours, base in rows
        ],
    )


if __name__ == "__main__":
    main()
