"""The fault matrix (issue 11): every public operation x sync/async failure x disconnect.

Each public operation runs once per faultable HCS export and mode of
``aiohcs.testing.fail_next`` and twice with the service connection dropping (before the
call; while its operation is pending), with iterators over the events of its objects
open. Contract: an aiohcs error or a normal return (a fault in an export the operation
does not call), never another exception or a hang; the iterators end; nothing is left
in hcsim or on the host. Every operation that calls HCS is failed by some export in
each mode (the injected HRESULT comes back in its error).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from reliability._harness import run_probe

pytestmark = pytest.mark.reliability


@pytest.mark.timeout(200)
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_fault_matrix(backend: str, tmp_path: Path, probe_report: Callable[[str], None]) -> None:
    run = run_probe("_faults", backend, timeout=180, cwd=tmp_path)
    result = run.result
    assert result is not None, run.explain()
    typed = sum(c.get("typed error", 0) for c in result["outcomes"].values())
    probe_report(
        f"{result['cases']} cases ({result['operations']} operations x "
        f"{result['functions']} exports x 2 modes + 2 disconnects) in {result['seconds']} s: "
        f"{typed} typed errors, {result['injected_failures_seen']} (operation, mode, export) "
        f"failures carried the injected HRESULT; disconnect errors "
        f"{result['disconnect_errors']}; broken {len(result['broken'])}, hung "
        f"{result['hung']}, never failed {result['never_failed']}"
        + "".join(
            f"\n    broken: {b['case']}: {b['outcome']} {b['error'][:160]} leaks {b['leaks']} "
            f"iterators not ended {b['iterators_not_ended']}"
            for b in result["broken"][:5]
        )
    )
    assert not result["hung"], run.explain()
    assert not result["broken"], result["broken"][:10]
    assert not result["never_failed"]
    assert not result["leftover_processes"]
    assert not run.leftovers
    assert run.returncode == 0, run.explain()
