"""Run the benchmarks one after another with this interpreter, recording their tables.

    python benchmarks/run_all.py [--quick] [--json FILE] [NAME ...]

NAME is a script (``bench_events.py``, ``events`` or a path); default: every
``bench_*.py``. Each runs in a fresh process of this interpreter, from the repository
root with the repository on ``PYTHONPATH`` (so a plain, non-installed checkout works, as
under Wine), and its tables go to FILE as JSON lines (``_report.JSON_ENV``), followed by one
line per script with its exit status and wall time. ``tools/wine/run_bench.sh`` runs this
under Wine and then natively (``--like`` the Wine run: what Windows cannot run, such as the
callgrind benchmark, is not run natively either) and compares the two.
Exit status: 1 if a script failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _report import JSON_ENV

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def scripts(names: list[str]) -> list[Path]:
    """The benchmark scripts NAMES stand for (all of them when empty)."""
    if not names:
        return sorted(HERE.glob("bench_*.py"))
    out = []
    for name in names:
        stem = Path(name).stem
        path = HERE / (stem if stem.startswith("bench_") else f"bench_{stem}")
        path = path.with_suffix(".py")
        if not path.is_file():
            raise SystemExit(f"run_all: no benchmark {name!r} ({path.name})")
        out.append(path)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the scripts; 1 if one of them failed or timed out."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="each script's --quick")
    parser.add_argument("--json", help="append the tables to this file (JSON lines)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per script")
    parser.add_argument(
        "--like",
        metavar="FILE",
        help="leave out the scripts that the run recorded in FILE skipped as a whole",
    )
    args = parser.parse_args(argv)
    skipped = set()
    if args.like:
        with open(args.like, encoding="utf-8") as f:
            entries = [json.loads(line) for line in f if line.strip()]
        skipped = {e["bench"] for e in entries if e.get("skipped") == e["bench"]}
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    if args.json:
        env[JSON_ENV] = str(Path(args.json).resolve())
    failed = 0
    for script in scripts(args.names):
        if script.stem in skipped:
            print(f"\n==== {script.name}: left out (skipped as a whole in {args.like})")
            continue
        print(f"\n==== {script.name}", flush=True)
        t0 = time.perf_counter()
        try:
            rc = subprocess.run(
                [sys.executable, str(script), *(["--quick"] if args.quick else [])],
                cwd=REPO,
                env=env,
                timeout=args.timeout,
            ).returncode
        except subprocess.TimeoutExpired:
            rc = -1
        seconds = time.perf_counter() - t0
        status = "timed out" if rc == -1 else f"exit {rc}"
        print(f"==== {script.name}: {status} after {seconds:.1f} s", flush=True)
        failed |= rc != 0
        if args.json:
            with open(args.json, "a", encoding="utf-8") as f:
                line = {"bench": script.stem, "status": rc, "seconds": round(seconds, 1)}
                f.write(json.dumps(line) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
