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

import anyio
import pytest
import sniffio

from aiohcs.system import ComputeSystem
from reliability._common import LINUX_VM
from reliability._faults import Context, Matrix
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


@pytest.mark.anyio
async def test_a_consumer_not_yet_started_has_not_seen_its_iterator_end(tmp_path: Path) -> None:
    """The matrix's wait for the iterators waits for consumers that have not run yet.

    A case can be over before its consumer tasks first run (trio runs the tasks of one
    scheduler batch in either order: the case's task may call, clean up and reach the
    wait first). The wait then found no consumer registered, took that for "all ended",
    cancelled them unstarted and reported an iterator that never ended (``waiting 0,
    ended True, got []``, about one matrix run in ten on trio). Here nothing yields
    between starting the consumers and the wait, so they have not run when it begins.
    """
    matrix = Matrix(sniffio.current_async_library(), tmp_path)
    ctx = Context(tmp_path, tmp_path / "saved.vmrs")
    async with await ComputeSystem.create("faults-consumers", LINUX_VM) as system:
        ctx.streams.append(("system", system.events()))
    # The system is closed: its stream has ended, and ends any consumer at once.
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            matrix.start_consumers(tg, ctx)
            await matrix.wait_iterators(ctx)
            assert ctx.started == {"system": True}
            assert ctx.ended == {"system": True}
            assert ctx.seen == {"system": []}
