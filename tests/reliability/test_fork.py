"""fork (issue 11): a child forked during activity gets a working emulator or a clear error.

The child's first call must answer within ``ANSWER_SECONDS`` (a result, and then a whole
life cycle works, or an error about fork); it must exit by itself (it is killed after
``CHILD_SECONDS``); the parent's system and process keep working and nothing leaks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from reliability._fork import ANSWER_SECONDS, CHILD_SECONDS
from reliability._harness import run_probe

pytestmark = pytest.mark.reliability


@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_fork_during_activity(
    backend: str, tmp_path: Path, probe_report: Callable[[str], None]
) -> None:
    run = run_probe("_fork", backend, timeout=90, cwd=tmp_path)
    result = run.result
    assert result is not None, run.explain()
    child, parent = result["child"], result["parent"]
    probe_report(f"child {child}; parent {parent}; leaks {result['leaks']}")
    assert child["returned_from_fork"], f"the child never came back from fork(): {child}"
    assert "killed_after_s" not in child, f"the child was still running after {CHILD_SECONDS} s"
    assert child["exit"] == 0, child
    if child.get("first_call") == "ok":
        assert child.get("life_cycle") == "ok", child
        assert child.get("run_process") == "child\n", child
    else:
        assert child.get("first_call") == "error", (
            f"the first call did not answer within {ANSWER_SECONDS} s: {child}"
        )
        assert child["mentions_fork"], child
        assert child["first_seconds"] < ANSWER_SECONDS, child
    assert "error" not in parent, parent
    assert parent["process_running"]
    assert parent["run_process"] == "parent\n"
    assert not result["leaks"]
    assert not result["leftover_processes"]
    assert not run.leftovers
    assert run.returncode == 0, run.explain()
