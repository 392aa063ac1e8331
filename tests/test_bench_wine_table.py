"""The benchmarks' recorded tables, and the native | Wine comparison of tools/wine/run_bench.sh."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tools" / "wine"))

import bench_table


def _write(path: Path, entries: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")
    return path


def _run(bench: str, rows: list[list[object]], skip: bool = False) -> list[dict[str, object]]:
    entries: list[dict[str, object]] = [
        {
            "bench": bench,
            "title": "stdio",
            "header": ["direction", "engine", "MiB/s", "ratio"],
            "rows": rows,
        },
        {"bench": bench, "status": 0, "seconds": 1.5},
    ]
    if skip:
        entries.insert(0, {"bench": bench, "skipped": "the fd engine", "reason": "POSIX-only"})
    return entries


def test_each_row_shows_the_native_and_the_wine_ratio(tmp_path: Path) -> None:
    native = [
        _write(
            tmp_path / f"n{i}.jsonl",
            _run("bench_x", [["out", "fd", 900.0, r], ["out", "thread", 500.0, r / 2]]),
        )
        for i, r in enumerate((1.0, 1.2, 1.4))
    ]
    wine = [_write(tmp_path / "w.jsonl", _run("bench_x", [["out", "thread", 50.0, 0.3]], True))]
    [(title, header, rows)] = bench_table.compare(bench_table.Runs(native), bench_table.Runs(wine))
    assert title == "bench_x: stdio"
    # Only the ratio column is compared, native beside Wine.
    assert header == ["row", "ratio native", "ratio Wine"]
    assert rows == [
        ["out, fd", "1.20 (1.00..1.40)", "not run"],
        ["out, thread", "0.60 (0.50..0.70)", "0.30"],
    ]


def test_the_report_names_skips_and_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    native = _write(tmp_path / "n.jsonl", _run("bench_x", [["out", "thread", 1.0, 1.0]]))
    failed = _run("bench_x", [["out", "thread", 1.0, 0.5]], True)
    failed[-1]["status"] = 1
    wine = _write(tmp_path / "w.jsonl", failed)
    assert bench_table.report(bench_table.Runs([native]), bench_table.Runs([wine])) == 1
    out = capsys.readouterr().out
    assert "skipped under Wine: the fd engine: POSIX-only" in out
    assert "FAILED [1]" in out
    assert "Wine figures, not Windows'" in out


def test_a_table_without_ratios_compares_its_measured_columns() -> None:
    label, cells = bench_table.split_row(["loop", "threads", "KiB/system"], ["trio", 21, 7.7])
    assert (label, cells) == ("trio", [("KiB/system", 7.7)])


def test_run_all_records_every_table_of_a_benchmark(tmp_path: Path) -> None:
    """The real thing, natively: a benchmark's printed tables land in the JSON file."""
    out = tmp_path / "run.jsonl"
    done = subprocess.run(
        [sys.executable, "benchmarks/run_all.py", "--json", str(out), "instructions"]
        if sys.platform == "win32"
        else [sys.executable, "benchmarks/bench_import.py", "--runs", "1"],
        cwd=REPO,
        env={**os.environ, "AIOHCS_BENCH_JSON": str(out)},
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    entries = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    if sys.platform == "win32":  # (no valgrind there: a skip with its reason, and a status)
        assert entries[0]["bench"] == "bench_instructions"
        assert "skipped" in entries[0]
        assert entries[-1]["status"] == 0
        return
    [entry] = entries
    assert entry["bench"] == "bench_import"
    assert entry["header"] == ["case", "median ms", "min ms", "x anyio"]
    assert [row[0] for row in entry["rows"]][:2] == ["import anyio", "import aiohcs"]
    assert entry["title"] in done.stdout


def test_markdown_tables_for_the_docs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    native = _write(tmp_path / "n.jsonl", _run("bench_x", [["out", "thread", 1.0, 0.5]]))
    wine = _write(tmp_path / "w.jsonl", _run("bench_x", [["out", "thread", 1.0, 0.25]]))
    assert bench_table.report(bench_table.Runs([native]), bench_table.Runs([wine]), True) == 0
    out = capsys.readouterr().out
    expected = "| row | ratio native | ratio Wine |\n|---|---|---|\n| out, thread | 0.50 | 0.25 |"
    assert expected in out
