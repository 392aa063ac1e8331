"""The benchmarks' figures under Wine beside the native ones (tools/wine/run_bench.sh).

    python tools/wine/bench_table.py [--markdown] --native N1.jsonl [...] --wine W1.jsonl [...]

Each file is one run of ``benchmarks/run_all.py --json`` (JSON lines of ``_report``). For
every benchmark row (its leading text cells) and every ratio column (a header such as
``x raw``, ``p99 x base``, ``ratio`` or ``max / 20 ms``; a table without one: its
measured, non-integer columns), prints the median over the runs natively and under Wine
side by side, with the spread (min..max) when there are several. Rows that ran natively
only say "not run"; the reasons Wine's run gave (its ``skip`` lines) are printed per benchmark.

These are Wine figures, not Windows': the ratios carry over, the absolute times do not.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# The benchmarks' own table printer (benchmarks/ is no package: imported by path).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
table = importlib.import_module("_report").table

#: Headers of ratio columns: "x raw", "p50 x base", "ratio", "max / 20 ms".
RATIO = re.compile(r"(^|\s)x\s|ratio|\s/\s")

Key = tuple[str, int]  # (benchmark, index of the table in its output)


class Runs:
    """The tables, skips and statuses of the runs of one side (native or Wine)."""

    def __init__(self, paths: Iterable[Path]) -> None:
        self.titles: dict[Key, str] = {}
        self.headers: dict[Key, list[str]] = {}
        #: (table, row label, column) -> one value per run
        self.values: dict[tuple[Key, str, str], list[float]] = defaultdict(list)
        self.rows: dict[Key, list[str]] = defaultdict(list)  # row labels, in order
        self.skips: dict[str, list[str]] = defaultdict(list)
        self.status: dict[str, list[tuple[int, float]]] = defaultdict(list)
        self.runs = 0
        for path in paths:
            self.runs += 1
            self._read(path)

    def _read(self, path: Path) -> None:
        seen: dict[str, int] = defaultdict(int)
        if not path.exists():  # (the run ended before its first table)
            return
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            bench = entry["bench"]
            if "status" in entry:
                self.status[bench].append((entry["status"], entry["seconds"]))
            elif "skipped" in entry:
                note = f"{entry['skipped']}: {entry['reason']}"
                if note not in self.skips[bench]:
                    self.skips[bench].append(note)
            else:
                key = (bench, seen[bench])
                seen[bench] += 1
                self.titles.setdefault(key, entry["title"])
                self.headers.setdefault(key, entry["header"])
                for row in entry["rows"]:
                    label, columns = split_row(entry["header"], row)
                    if label not in self.rows[key]:
                        self.rows[key].append(label)
                    for column, value in columns:
                        self.values[(key, label, column)].append(value)


def split_row(header: list[str], row: list[Any]) -> tuple[str, list[tuple[str, float]]]:
    """The row's label (its leading text cells) and its compared (column, value) cells."""
    n = 0
    while n < len(row) and isinstance(row[n], str) and row[n].strip() != "-":
        n += 1
    label = ", ".join(c.strip() for c in row[:n]) or "-"
    cells = list(zip(header[n:], row[n:], strict=False))
    if any(RATIO.search(h) for h in header):
        return label, [
            (h, float(c))
            for h, c in cells
            if RATIO.search(h) and isinstance(c, (int, float)) and not isinstance(c, bool)
        ]
    # No ratio column: the measured (float) columns, not the counts (int).
    return label, [(h, c) for h, c in cells if isinstance(c, float)]


def cell(values: list[float]) -> str:
    """Median, and the spread of several runs."""
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return _num(med)
    return f"{_num(med)} ({_num(min(values))}..{_num(max(values))})"


def _num(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def compare(native: Runs, wine: Runs) -> list[tuple[str, list[str], list[list[str]]]]:
    """Per native table: (title, header, rows), each compared column native | Wine."""
    out = []
    for key, title in native.titles.items():
        columns: list[str] = []
        for k, _, column in native.values:
            if k == key and column not in columns:
                columns.append(column)
        if not columns:
            continue
        header = ["row"] + [f"{c} {side}" for c in columns for side in ("native", "Wine")]
        rows: list[list[str]] = []
        for label in native.rows[key]:
            ran = label in wine.rows.get(key, [])
            row = [label]
            for column in columns:
                row.append(cell(native.values.get((key, label, column), [])))
                row.append(cell(wine.values.get((key, label, column), [])) if ran else "not run")
            rows.append(row)
        other = wine.titles.get(key, title)
        if other != title:  # (e.g. the baseline's loop class)
            title = f"{title}\n  under Wine: {other}"
        out.append((f"{key[0]}: {title}", header, rows))
    return out


def markdown(title: str, header: list[str], rows: list[list[str]]) -> None:
    """A table as Markdown (for docs/benchmarks.md)."""
    print(f"\n{title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


def report(native: Runs, wine: Runs, as_markdown: bool = False) -> int:
    """Print the comparison; 1 if a benchmark failed on either side."""
    print(
        f"\nbenchmarks under Wine beside native: {native.runs} native run(s), {wine.runs} "
        "Wine run(s); median (min..max). Wine figures, not Windows'."
    )
    failed = 0
    for bench in sorted(set(native.status) | set(wine.status)):
        parts = []
        for side, runs in (("native", native), ("Wine", wine)):
            statuses = runs.status.get(bench, [])
            bad = [rc for rc, _ in statuses if rc != 0]
            failed |= bool(bad)
            if not statuses:
                parts.append(f"{side} not run")
                continue
            seconds = cell([s for _, s in statuses])
            parts.append(f"{side} {seconds} s" + (f", FAILED {bad}" if bad else ""))
        print(f"  {bench}: {'; '.join(parts)}")
        for note in wine.skips.get(bench, []):
            print(f"    skipped under Wine: {note}")
        for note in native.skips.get(bench, []):
            print(f"    skipped natively: {note}")
    for title, header, rows in compare(native, wine):
        (markdown if as_markdown else table)(title, header, rows)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """Read the runs and print the comparison."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--native", nargs="+", type=Path, required=True)
    parser.add_argument("--wine", nargs="+", type=Path, required=True)
    parser.add_argument("--markdown", action="store_true", help="Markdown tables")
    args = parser.parse_args(argv)
    return report(Runs(args.native), Runs(args.wine), args.markdown)


if __name__ == "__main__":
    sys.exit(main())
