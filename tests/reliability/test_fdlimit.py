"""fd exhaustion (issue 11): RLIMIT_NOFILE at 200 and the fd table full, in a child.

At each number of free fds (0, 1, 2, ...) a first ``properties()``, ``open_process`` on
both pipe engines, ``run_process``, ``stream_process`` and ``create`` either work or raise
an aiohcs error naming the cause (EMFILE / "too many open files"); once the fds are given
back nothing is left running or held; afterwards everything works and nothing leaks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from reliability._harness import run_probe

pytestmark = pytest.mark.reliability


@pytest.mark.timeout(150)
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_fd_exhaustion(backend: str, tmp_path: Path, probe_report: Callable[[str], None]) -> None:
    run = run_probe("_fdlimit", backend, timeout=120, cwd=tmp_path)
    result = run.result
    assert result is not None, run.explain()
    recovery = result["recovery"]
    probe_report(
        f"RLIMIT_NOFILE {result['limit']}, free fds {result['levels']}: outcomes "
        f"{result['outcomes']}; held after the fds came back {len(result['held'])} "
        f"({[(h['free'], h['call'], h['counts']) for h in result['held']][:6]}); "
        f"recovery leaks {recovery['leaks']}, leftover host processes "
        f"{len(recovery['leftover_processes'])} / {len(run.leftovers)} after exit"
    )
    bad = [a for a in result["attempts"] if a["outcome"] not in ("ok", "typed, names the cause")]
    first: dict[tuple[str, str], dict[str, object]] = {}
    for a in bad:  # one example per call and outcome
        first.setdefault((a["call"], a["outcome"]), a)
    assert not first, list(first.values())
    assert not result["held"], result["held"][:6]
    assert "error" not in recovery, recovery
    assert all(recovery[k] for k in ("run_process[fd]", "run_process[thread]", "properties"))
    assert not recovery["leaks"]
    assert not recovery["leftover_processes"]
    assert not run.leftovers
    assert run.returncode == 0, run.explain()
