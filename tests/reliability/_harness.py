"""The parent side: run a probe child with a deadline, collect its result and leftovers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reliability._common import (
    RESULT_PREFIX,
    TAG_VARIABLE,
    HostProcess,
    kill_all,
    tagged_processes,
)

TESTS_DIR = Path(__file__).resolve().parent.parent


@dataclass
class ProbeRun:
    """What one child run gave."""

    tag: str
    returncode: int | None
    seconds: float
    timed_out: bool
    result: dict[str, Any] | None
    stdout: str
    stderr: str
    #: Tagged host processes still alive after the child ended (recorded, then killed).
    leftovers: list[HostProcess] = field(default_factory=list)

    def explain(self) -> str:
        """The child's output, for an assertion message."""
        tail = self.stderr[-6000:]
        return (
            f"child rc={self.returncode} timed_out={self.timed_out} after {self.seconds:.1f} s\n"
            f"--- stderr (tail) ---\n{tail}"
        )


def child_env(tag: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The child's environment: ours, the tag, and the tests directory on the path."""
    env = dict(os.environ)
    env[TAG_VARIABLE] = tag
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH")]))
    env["PYTHONFAULTHANDLER"] = "1"
    env.update(extra or {})
    return env


def run_probe(
    module: str,
    *args: str,
    timeout: float,
    cwd: Path,
    settle: float = 5.0,
    env: dict[str, str] | None = None,
) -> ProbeRun:
    """Run ``python -m reliability.<module> args`` for at most ``timeout`` seconds.

    The child gets ``timeout - 10`` s to dump its stacks and exit by itself
    (faulthandler); after ``timeout`` its whole process group is killed. Tagged host
    processes still alive ``settle`` s after the child ended are recorded and killed.
    """
    tag = uuid.uuid4().hex
    command = [sys.executable, "-m", f"reliability.{module}", *args]
    started = time.monotonic()
    child = subprocess.Popen(
        command,
        cwd=cwd,
        env=child_env(tag, {"AIOHCS_PROBE_DEADLINE": str(max(timeout - 10, 5)), **(env or {})}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    timed_out = False
    try:
        stdout, stderr = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        with_group_killed(child.pid)
        stdout, stderr = child.communicate()
    seconds = time.monotonic() - started
    result = None
    for line in stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX) :])
    run = ProbeRun(tag, child.returncode, seconds, timed_out, result, stdout, stderr)
    run.leftovers = settle_leftovers(tag, settle)
    return run


def with_group_killed(pgid: int) -> None:
    """SIGKILL a process group (the child's session), if it still exists."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def settle_leftovers(tag: str, settle: float) -> list[HostProcess]:
    """Tagged processes alive after ``settle`` s (then killed, so that none outlives us)."""
    deadline = time.monotonic() + settle
    alive = tagged_processes(tag)
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = tagged_processes(tag)
    kill_all(alive)
    return alive
