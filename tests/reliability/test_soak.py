"""The soak (issue 11): many thousands of calls, RSS, fds and threads flat within 5%.

The first checkpoint comes after the warm-up (a fifth of the calls), the second at the
end; growth beyond 5% of the first is a failure. ``AIOHCS_PROBE_SOAK_CALLS`` overrides
the number of calls per backend.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from reliability._harness import run_probe

pytestmark = pytest.mark.reliability

CALLS = int(os.environ.get("AIOHCS_PROBE_SOAK_CALLS", "40000"))
TOLERANCE = 0.05


@pytest.mark.timeout(150)
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_soak_is_flat(backend: str, tmp_path: Path, probe_report: Callable[[str], None]) -> None:
    run = run_probe("_soak", backend, str(CALLS), timeout=120, cwd=tmp_path)
    result = run.result
    assert result is not None, run.explain()
    early, end = result["early"], result["end"]
    probe_report(
        f"{result['calls']} calls ({result['cycles']} cycles) in {result['seconds']} s; "
        f"RSS {early['rss_kib']} -> {end['rss_kib']} KiB, fds {early['fds']} -> "
        f"{end['fds']}, threads {early['threads']} -> {end['threads']} "
        f"(checkpoints at {early['calls']} and {end['calls']} calls)"
    )
    assert run.returncode == 0, run.explain()
    assert result["calls"] >= CALLS
    grown = {
        name: (early[name], end[name])
        for name in ("rss_kib", "fds", "threads")
        if end[name] > early[name] * (1 + TOLERANCE)
    }
    assert not grown, f"grew by more than {TOLERANCE:.0%} after the warm-up: {grown}"
    assert early["counts_ok"]
    assert end["counts_ok"]
    assert not result["leftover_processes"]
    assert not run.leftovers
