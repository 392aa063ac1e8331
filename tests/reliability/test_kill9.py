"""kill -9 (and an unhandled exception) of a process hosting hcsim (issue 11).

A child creates two systems with guest processes (a plain one, a shell with a
background child, a console one), then is killed with SIGKILL or dies of an unhandled
exception. Contract: every host process of its systems is gone within
:data:`GONE_SECONDS` (on Windows a compute system is a job, ended with its service).
Whatever is still alive after that is recorded, then killed.
"""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from reliability._common import HostProcess, kill_all, tagged_processes
from reliability._harness import child_env, with_group_killed

pytestmark = pytest.mark.reliability

READY_SECONDS = 30.0
GONE_SECONDS = 5.0


def wait_ready(child: subprocess.Popen[bytes]) -> list[int]:
    assert child.stdout is not None
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        ready, _, _ = select.select([child.stdout], [], [], 0.1)
        if ready:
            line = child.stdout.readline().decode()
            if line.startswith("READY "):
                pids: list[int] = json.loads(line[6:])
                return pids
            if not line:
                break
    raise AssertionError(f"the host never got ready (rc={child.poll()})")


@pytest.mark.timeout(90)
@pytest.mark.parametrize("end", ["sigkill", "exception"])
def test_host_processes_end_with_their_host(
    end: str, tmp_path: Path, probe_report: Callable[[str], None]
) -> None:
    tag = uuid.uuid4().hex
    child = subprocess.Popen(
        [sys.executable, "-m", "reliability._kill9", end],
        cwd=tmp_path,
        env=child_env(tag),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    left: list[HostProcess] = []
    try:
        pids = wait_ready(child)
        before = tagged_processes(tag, exclude=[child.pid])
        assert {p.pid for p in before} >= set(pids), (pids, before)
        if end == "sigkill":
            child.send_signal(signal.SIGKILL)
        try:
            _, stderr = child.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the host ({end}) had not ended 30 s later")
        died = time.monotonic()
        left = tagged_processes(tag)
        while left and time.monotonic() - died < GONE_SECONDS:
            time.sleep(0.02)
            left = tagged_processes(tag)
        gone_after = time.monotonic() - died
        probe_report(
            f"host rc {child.returncode}: {len(before)} host processes of 2 systems "
            f"({len(pids)} guest processes and their children); "
            + (
                f"all gone {gone_after:.3f} s after the host died"
                if not left
                else f"{len(left)} still alive {GONE_SECONDS} s after the host died: "
                f"{sorted({p.command for p in left})} (ppid {sorted({p.ppid for p in left})})"
            )
        )
        if end == "exception":
            assert b"RuntimeError" in stderr, stderr.decode(errors="replace")[-3000:]
        else:
            assert child.returncode == -signal.SIGKILL
        assert not left, [p.describe() for p in left]
    finally:
        if child.poll() is None:
            with_group_killed(child.pid)
            child.communicate()
        kill_all(tagged_processes(tag))
