"""The cancellation storm (issue 11): random cancellation of thousands of calls, both backends.

Contract: every call cancelled by any path (anyio's move_on_after / fail_after /
CancelScope.cancel on both backends; asyncio.wait_for, Task.cancel and asyncio.timeout;
trio's own scopes) ends promptly, the processes it started are gone once it returned,
nothing a system ran outlives the system, and at the end hcsim holds no handle,
operation, process, pipe, document or system and no host process of the run is left.
The seed is printed; ``AIOHCS_PROBE_SEED`` and ``AIOHCS_PROBE_STORM_OPS`` override it and
the number of operations.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from reliability._harness import run_probe
from reliability._storm import ANYIO_PATHS, HANG_SECONDS, NATIVE_PATHS

pytestmark = pytest.mark.reliability

SEED = int(os.environ.get("AIOHCS_PROBE_SEED", "20261205"))
#: Operations per backend.
OPS = int(os.environ.get("AIOHCS_PROBE_STORM_OPS", "5000"))


@pytest.mark.timeout(200)
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_cancellation_storm(
    backend: str, tmp_path: Path, probe_report: Callable[[str], None]
) -> None:
    run = run_probe("_storm", backend, str(OPS), str(SEED), timeout=180, cwd=tmp_path)
    result = run.result
    assert result is not None, run.explain()
    probe_report(
        f"seed {SEED}: {result['ops']} ops in {result['seconds']} s, "
        f"{result['cancelled']} cancelled, lateness max {result['late_max_s']} s "
        f"p99 {result['late_p99_s']} s ({result['over_1s']} over 1 s), "
        f"hung {len(result['hung'])}, unexpected {len(result['unexpected'])}, "
        f"left running {len(result['left_running'])}, outlived their system "
        f"{len(result['outlived_system'])}, leaks {result['leaks']}, leftover host "
        f"processes {len(result['leftover_processes'])} in-child / {len(run.leftovers)} "
        f"after exit; regimes {result['regimes']}; errors {result['errors']}; over 1 s: "
        f"{[(o['kind'], o['path'], o['detail'], o['late_s']) for o in result['over_1s_examples']]}"
    )
    paths = set(ANYIO_PATHS) | set(NATIVE_PATHS[backend])
    broken = {
        # Each of these is a contract of issue 11; the first few examples are shown.
        f"calls hung > {HANG_SECONDS} s after their cancellation": result["hung"][:5],
        "untyped exceptions": result["unexpected"][:5],
        "guest processes left running after their call returned": result["left_running"][:5],
        "host processes outlived their terminated system": result["outlived_system"][:5],
        "hcsim objects left at the end": result["leaks"],
        "host processes left at the end": result["leftover_processes"][:5],
        "host processes left after the child exited": [p.describe() for p in run.leftovers][:5],
    }
    # (Calls ending more than 1 s after their cancellation, but not hung, are reported
    # above and in the result's over_1s_examples; timing is not asserted on a shared box.)
    assert not {k: v for k, v in broken.items() if v}, run.explain()
    assert run.returncode == 0, run.explain()
    assert result["ops"] >= OPS
    for path in paths:  # every path cancelled some calls and let others complete
        assert result["outcomes"][path].get("cancelled", 0) > 0, path
