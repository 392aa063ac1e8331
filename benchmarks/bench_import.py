"""Import cost of aiohcs compared with anyio, and of the first schema model.

Every measurement runs in a fresh interpreter (``python -c``) that times only the import
statement with ``time.perf_counter``; the cases are interleaved and repeated, and the table
shows the median (and the fastest) run of each, with its ratio to ``import anyio``.

    python benchmarks/bench_import.py            # 21 runs per case
    python benchmarks/bench_import.py --quick    # 5 runs (CI smoke)
    python benchmarks/bench_import.py --max-ratio 2.0   # exit 1 if aiohcs > 2x anyio

Target (issue 5): ``import aiohcs`` <= 2x ``import anyio``.
"""

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

from _report import table

REPO = Path(__file__).resolve().parent.parent

VALIDATE = (
    "ComputeSystem.model_validate("
    "{'SchemaVersion': {'Major': 2, 'Minor': 1}, 'VirtualMachine': {'ComputeTopology': "
    "{'Memory': {'SizeInMB': 1024}, 'Processor': {'Count': 1}}}})"
)

# (label, setup run before the clock starts, statement timed)
CASES: list[tuple[str, str, str]] = [
    ("import anyio", "", "import anyio"),
    ("import aiohcs", "", "import aiohcs"),
    ("import aiohcs.schema", "", "import aiohcs.schema"),
    ("from pydantic import BaseModel", "", "from pydantic import BaseModel"),
    ("from aiohcs.schema import ComputeSystem", "", "from aiohcs.schema import ComputeSystem"),
    (
        "  same, pydantic already imported",
        "from pydantic import BaseModel",
        "from aiohcs.schema import ComputeSystem",
    ),
    (
        "from aiohcs.schema import SystemExitStatus",
        "",
        "from aiohcs.schema import SystemExitStatus",
    ),
    ("import aiohcs.schema._models (all types)", "", "import aiohcs.schema._models"),
    (
        "first ComputeSystem validation",
        "from aiohcs.schema import ComputeSystem",
        VALIDATE,
    ),
]

CHILD = """
import time
{setup}
t0 = time.perf_counter()
{stmt}
print(time.perf_counter() - t0)
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_once(setup: str, stmt: str, env: dict[str, str]) -> float:
    """Seconds one fresh interpreter spends on *stmt* (after *setup*)."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(setup=setup, stmt=stmt)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env=env,
    )
    return float(out.stdout.strip().splitlines()[-1])


def measure(runs: int) -> dict[str, list[float]]:
    """Interleaved timings of every case, *runs* each (after one warm-up run)."""
    env = _env()
    for _, setup, stmt in CASES:  # warm-up: writes the .pyc files
        run_once(setup, stmt, env)
    samples: dict[str, list[float]] = {label: [] for label, _, _ in CASES}
    for _ in range(runs):
        for label, setup, stmt in CASES:
            samples[label].append(run_once(setup, stmt, env))
    return samples


def rows(samples: dict[str, list[float]]) -> list[list[object]]:
    """Per case: median ms, fastest ms, ratio of medians to ``import anyio``."""
    base = statistics.median(samples["import anyio"])
    return [
        [label, statistics.median(v) * 1e3, min(v) * 1e3, statistics.median(v) / base]
        for label, v in samples.items()
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21, help="runs per case (default 21)")
    parser.add_argument("--quick", action="store_true", help="5 runs per case")
    parser.add_argument(
        "--max-ratio", type=float, default=None, help="fail if import aiohcs / import anyio > X"
    )
    args = parser.parse_args(argv)
    runs = 5 if args.quick else args.runs
    samples = measure(runs)
    table(
        f"{runs} fresh interpreters per case, Python {sys.version.split()[0]}",
        ["case", "median ms", "min ms", "x anyio"],
        rows(samples),
    )
    ratio = statistics.median(samples["import aiohcs"]) / statistics.median(samples["import anyio"])
    if args.max_ratio is not None and ratio > args.max_ratio:
        print(f"import aiohcs is {ratio:.2f}x import anyio (limit {args.max_ratio}x)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
