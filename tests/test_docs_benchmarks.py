"""The benchmark page reports measured numbers for every benchmark script."""

from __future__ import annotations

from helpers import REPO

PAGE = REPO / "docs" / "benchmarks.md"


def test_every_benchmark_script_has_a_section() -> None:
    text = PAGE.read_text(encoding="utf-8")
    scripts = sorted(p.name for p in (REPO / "benchmarks").glob("bench_*.py"))
    assert scripts
    missing = [name for name in scripts if f"(`{name}`)" not in text]
    assert not missing


def test_no_placeholders_left() -> None:
    text = PAGE.read_text(encoding="utf-8").lower()
    for marker in ("tbd", "placeholder", "to be filled"):
        assert marker not in text
