"""Printing the benchmarks' tables, and recording them for a comparison across runs.

Every table a benchmark prints goes through :func:`table`. When ``AIOHCS_BENCH_JSON``
names a file, each table (and each :func:`skip`) is also appended to it as one JSON line,
``{"bench": script, "title": ..., "header": [...], "rows": [[...], ...]}``: what
``benchmarks/run_all.py`` collects and ``tools/wine/bench_table.py`` compares (the same
benchmark natively and under Wine). Imports nothing of aiohcs (``bench_import`` uses it).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: The file the tables are appended to (JSON lines), when set.
JSON_ENV = "AIOHCS_BENCH_JSON"

# The benchmarks measure aiohcs, not the service: hcsim runs on its "instant" latency
# profile unless the environment names another (hcsim reads HCSIM_LATENCY at its first
# call; every benchmark imports this module first, and run_all's scripts inherit it).
os.environ.setdefault("HCSIM_LATENCY", "instant")


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a plain-text table (and record it, see the module doc)."""
    cells = [[str(h) for h in header]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    line = "  ".join("-" * w for w in widths)
    print(line)
    for i, row in enumerate(cells):
        print(
            "  ".join(
                c.rjust(w) if j else c.ljust(w)
                for j, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if i == 0:
            print(line)
    print(line)
    _record({"title": title, "header": list(header), "rows": [_plain(r) for r in rows]})


def skip(what: str, reason: str) -> None:
    """Say that ``what`` (a benchmark, or a part of one) does not run here, and why."""
    print(f"skipped: {what}: {reason}")
    _record({"skipped": what, "reason": reason})


def _record(entry: dict[str, Any]) -> None:
    path = os.environ.get(JSON_ENV)
    if not path:
        return
    entry = {"bench": Path(sys.argv[0]).stem, **entry}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")


def _plain(row: Sequence[Any]) -> list[Any]:
    return [c if isinstance(c, (int, float, str)) or c is None else str(c) for c in row]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)
