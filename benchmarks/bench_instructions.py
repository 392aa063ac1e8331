"""Instructions per operation: what one ``await system.properties()`` costs the loop thread.

Wall-clock figures on a shared virtual machine swing by ±10% from run to run; instruction
counts do not. This benchmark runs each path under valgrind's callgrind and counts the
instructions the main thread executes per operation, sequentially, with the polling fast
path off (the path every completion takes on Windows, where operations take milliseconds):

* raw: the plain cffi call + a blocking ``HcsWaitForOperationResult`` + parsing the
  document into the same ``aiohcs.schema.Properties`` model (the baseline);
* aiohcs on asyncio and on trio: the callback bridge (completion callback → C queue →
  wake byte → drain → waiter).

Each figure is the difference between a run of N + 1 operations and a run of 1 (start-up
and shutdown cancel out), divided by N; the main thread only (hcsim's threads are not
counted), with starts kept on the loop thread (under valgrind every start looks slow,
which would move them to worker threads). Repeatable to about 1% on one build; compare two
builds by running this in each.

    python benchmarks/bench_instructions.py           # N = 2000
    python benchmarks/bench_instructions.py --quick   # N = 200 (CI smoke)

Needs valgrind (Debian: ``apt-get install valgrind``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: The function whose first call ends the measured part (callgrind dumps the counts there).
MARK = "os_getpgrp"


def child(path: str, n: int) -> None:
    """Run ``n`` operations of ``path``, then call the mark (inside callgrind)."""
    sys.path.insert(0, str(HERE))
    import anyio
    from _common import RawSystem, require_emulator

    from aiohcs._bridge import current_bridge
    from aiohcs._bridge._tuning import StartCost
    from aiohcs.system import ComputeSystem

    require_emulator()
    # Under valgrind every start takes milliseconds: keep them on the loop thread.
    StartCost.THRESHOLD = 1e9  # type: ignore[misc]
    raw = RawSystem(f"bench-instructions-{os.getpid()}")
    if path == "raw":
        for _ in range(n):
            raw.blocking_properties()
        os.getpgrp()
        return

    async def run() -> None:
        async with await ComputeSystem.open(raw.id) as system:
            current_bridge().completion_time.enabled = False
            for _ in range(n):
                await system.properties()
            os.getpgrp()

    anyio.run(run, backend=path)


def count(path: str, n: int) -> int:
    """Instructions of the main thread up to the mark, for ``n`` operations of ``path``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        cmd = [
            "valgrind",
            "--tool=callgrind",
            "--separate-threads=yes",
            f"--callgrind-out-file={out}",
            f"--dump-before={MARK}",
            sys.executable,
            __file__,
            "--child",
            path,
            str(n),
        ]
        env = dict(os.environ, PYTHONHASHSEED="0")
        subprocess.run(cmd, check=True, env=env, capture_output=True)
        # The dump at the mark, main thread: <out>.1-01.
        for line in (Path(tmp) / "cg.out.1-01").read_text().splitlines():
            if line.startswith("summary:"):
                return int(line.split()[1])
    raise RuntimeError("callgrind wrote no summary")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="N = 200 (CI smoke run)")
    parser.add_argument("--child", nargs=2, metavar=("PATH", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    if sys.platform == "win32":
        from _report import skip

        skip("bench_instructions", "valgrind's callgrind runs Linux programs only")
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("bench_instructions: needs valgrind (apt-get install valgrind)")
    from _common import table

    n = 200 if args.quick else 2000
    per_op = {p: (count(p, n + 1) - count(p, 1)) / n for p in ("raw", "asyncio", "trio")}
    rows = [
        ["raw cffi + HcsWaitForOperationResult", per_op["raw"], 1.0],
        *(
            [f"aiohcs await properties() [{p}]", per_op[p], per_op[p] / per_op["raw"]]
            for p in ("asyncio", "trio")
        ),
    ]
    table(
        f"instructions per operation, main thread, sequential, polling off (N = {n})",
        ["path", "instructions/op", "x raw"],
        rows,
    )


if __name__ == "__main__":
    main()
