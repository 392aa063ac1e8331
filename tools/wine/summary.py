"""Summarise the JUnit reports of the suite under Wine (tools/wine/run_suite.sh writes them).

Prints the outcomes per backend (a test's ``[asyncio...]`` / ``[trio...]`` parameter, or
none), the reasons of the skips with their counts, and the failures grouped by the first
line of their message (numbers, addresses and quoted names blanked, so that one
cause is one group), largest
first, each with its test files; then, for the first few failures, the test's id and the
end of its traceback (a CI log is often all there is to go on).

Usage: python tools/wine/summary.py JUNIT_XML... [--top N]
"""

from __future__ import annotations

import argparse
import re
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from pathlib import Path

_BACKEND = re.compile(r"\[(asyncio|trio)\b")
_NUMBERS = re.compile(r"0x[0-9a-fA-F]+|\d+")
_QUOTED = re.compile(r"'[^']*'")
#: The lines of a failure's traceback shown.
_TAIL = 40


def backend(name: str) -> str:
    """The anyio backend a test id runs on, or ``-``."""
    found = _BACKEND.search(name)
    return found.group(1) if found else "-"


def category(message: str) -> str:
    """One failure's group: the first line of its message, numbers and quoted names blanked."""
    first = (message.strip().splitlines() or [""])[0]
    return _QUOTED.sub("'…'", _NUMBERS.sub("N", first))[:110]


def main() -> None:
    """Read the report and print the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("junit", type=Path, nargs="+")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--details", type=int, default=5, help="tracebacks shown (default 5)")
    args = parser.parse_args()
    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    skips: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    files: dict[str, set[str]] = defaultdict(set)
    cases: list[ET.Element] = []
    details: list[tuple[str, str]] = []
    for path in args.junit:
        try:
            cases += ET.parse(path).getroot().iter("testcase")
        except (OSError, ET.ParseError) as exc:
            print(f"{path}: no report ({exc})")
    for case in cases:
        name = case.get("name", "")
        module = case.get("classname", "").split(".")[-1] or "?"
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed" if child.tag == "failure" else "error"
                key = category(child.get("message") or child.text or "")
                failures[key] += 1
                files[key].add(module)
                details.append((f"{module}::{name}", child.text or child.get("message") or ""))
            elif child.tag == "skipped":
                outcome = "skipped"
                skips[(child.get("message") or "")[:110]] += 1
        outcomes[backend(name)][outcome] += 1
    print("outcomes per backend:")
    for name, counts in sorted(outcomes.items()):
        total = sum(counts.values())
        detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        print(f"  {name:8} {total:5} tests: {detail}")
    print(f"skip reasons ({sum(skips.values())}):")
    for reason, count in skips.most_common(args.top):
        print(f"  {count:5}  {reason}")
    print(f"failure groups ({sum(failures.values())} failures and errors):")
    for key, count in failures.most_common(args.top):
        print(f"  {count:5}  {key}\n         in {', '.join(sorted(files[key]))}")
    for test, text in details[: args.details]:
        print(f"--- {test} (the last {_TAIL} lines of its report):")
        for line in text.rstrip().splitlines()[-_TAIL:]:
            print(f"    {line[:160]}")


if __name__ == "__main__":
    main()
