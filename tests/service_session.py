"""The suite against an hcsim service: one service for the whole test session.

``AIOHCS_TEST_SERVICE=1``: importing this module (conftest.py does it first) starts
``python -m aiohcs hcsim serve`` on a socket in a private temporary folder and sets
``AIOHCS_HCSIM`` to it, so the test process (at its import of the binding) and every child
process it starts are clients of that service. The service stops when the session ends.
Otherwise ``AIOHCS_HCSIM`` is set empty (hcsim in-process; the ``aiohcs`` tool does not
look for a service on the default socket) unless the environment already names a service.
"""

from __future__ import annotations

import atexit
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from typing import Any, Final

#: The environment variable that runs the suite against a service ("1").
SERVICE_ENV: Final = "AIOHCS_TEST_SERVICE"
#: The start of the skip reason of an ``in_process_only`` test.
IN_PROCESS_ONLY: Final = "in-process hcsim only: "
#: How long the service may take to accept clients.
_READY_S: Final = 60.0


#: Tests that need hcsim inside the test process (file, or file::test name prefix), with
#: why; skipped against a service.
IN_PROCESS_TESTS: Final[dict[str, str]] = {
    "test_fd_exhaustion.py": "exhausts the test process's descriptors: a client then cannot "
    "receive the service's descriptors and loses its connection",
    "test_bridge_setup.py::test_first_call_of_a_loop_out_of_descriptors": "exhausts the test "
    "process's descriptors (see test_fd_exhaustion.py)",
    "test_cli.py::test_create_on_hcsim_says_the_system_ends_with_the_command": "checks the "
    "note of a tool that runs its own hcsim",
    "test_hcsim_latency.py::test_the_default_profile_is_realistic": "the latency profile "
    "comes from the service's environment, not the test process's",
    "test_hcsim_latency.py::test_reset_returns_to_the_profile_of_the_environment": "the "
    "latency profile comes from the service's environment, not the test process's",
    "test_process_tree.py::test_tree_gone_after_interpreter_exit_with_exception": "a host's "
    "systems and their processes end with it only in-process: a service keeps them",
    "test_process_tree.py::test_tree_gone_after_kill_of_host": "a host's systems and their "
    "processes end with it only in-process: a service keeps them",
}
#: Tests whose child processes make systems: in a service those outlive the children.
CHILDREN_MAKE_SYSTEMS: Final = frozenset(
    {
        "test_cli_subprocess.py",
        "test_system_threads.py::test_interpreter_exits_while_callbacks_keep_coming",
    }
)


def lookup(table: Mapping[str, str] | frozenset[str], nodeid: str) -> str | None:
    """The entry of ``table`` for a test id (``tests/FILE::NAME[...]``), or None."""
    name = nodeid.rpartition("/")[2]
    for key in table:
        if name == key or name.startswith((key + "::", key + "[")):
            return table[key] if isinstance(table, Mapping) else key
    return None


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when the test process dies, even by a crash."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def start_session_service() -> None:
    """Start the session's service if asked (see the module's docstring)."""
    if os.environ.get(SERVICE_ENV) != "1" or sys.platform == "win32":
        os.environ.setdefault("AIOHCS_HCSIM", "")
        return
    folder = tempfile.mkdtemp(prefix="aiohcs-svc-")
    path = os.path.join(folder, "hcsim.sock")
    env = {**os.environ, "AIOHCS_HCSIM": ""}
    env.setdefault("HCSIM_LATENCY", "instant")
    service = subprocess.Popen(
        [sys.executable, "-m", "aiohcs", "hcsim", "serve", "--socket", path],
        stdout=subprocess.PIPE,
        env=env,
        preexec_fn=_die_with_parent,
    )
    assert service.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(service.stdout, selectors.EVENT_READ)
        ready = selector.select(_READY_S) and service.stdout.readline()
    if not ready:
        service.kill()
        service.wait()
        raise RuntimeError(f"the hcsim service for the test session did not start ({path})")

    def stop() -> None:
        service.terminate()
        try:
            service.wait(30)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()
        shutil.rmtree(folder, ignore_errors=True)

    atexit.register(stop)
    os.environ["AIOHCS_HCSIM"] = path


start_session_service()


# ---------------------------------------------------------------- services of single tests


def service_test_marks(timeout: float) -> list[Any]:
    """The ``pytestmark`` of a module of service tests (POSIX, the service mode, a timeout)."""
    import pytest

    from aiohcs import _hcsim_service

    return [
        pytest.mark.posix_only("hcsim's service mode runs on Unix sockets"),
        pytest.mark.skipif(
            not _hcsim_service.supported(), reason="this build has no hcsim service mode"
        ),
        pytest.mark.timeout(timeout),
    ]


#: Seconds any one step of a service test may take (start, a command, a stop).
STEP_S: Final = 60.0


def short_socket_folder() -> str:
    """A new private folder for a socket, short enough for ``sun_path`` (tmp_path may not be)."""
    return tempfile.mkdtemp(prefix="hs-", dir="/tmp")


def child_env(socket: str | None, **extra: str) -> dict[str, str]:
    """The environment of a child aiohcs process: a client of ``socket`` (None: in-process)."""
    from helpers import child_env as base

    return {**base(), "AIOHCS_HCSIM": socket or "", "HCSIM_LATENCY": "instant", **extra}


class ServiceProcess:
    """``python -m aiohcs hcsim serve`` as a child process of the test."""

    def __init__(self, socket: str, *extra: str) -> None:
        self.socket = socket
        self.process = subprocess.Popen(
            [sys.executable, "-m", "aiohcs", "hcsim", "serve", "--socket", socket, *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=child_env(None),
            text=True,
            preexec_fn=_die_with_parent,
        )
        self.ready_line = self._ready_line()

    def _ready_line(self) -> str:
        assert self.process.stdout is not None
        return first_line(self.process.stdout)

    @property
    def pid(self) -> int:
        """The service's process id."""
        return self.process.pid

    def wait(self, timeout: float = STEP_S) -> int:
        """Wait for the service to exit; its exit code."""
        return self.process.wait(timeout)

    def stderr(self) -> str:
        """What the service wrote on stderr (once it exited)."""
        assert self.process.stderr is not None
        return self.process.stderr.read()

    def close(self) -> None:
        """Stop the service (SIGTERM, then SIGKILL) if it still runs."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STEP_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def aiohcs_cli(
    socket: str | None, *argv: str, stdin: str | None = None, timeout: float = STEP_S
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m aiohcs *argv`` as a client of ``socket``; output captured."""
    return subprocess.run(
        [sys.executable, "-m", "aiohcs", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        env=child_env(socket),
        timeout=timeout,
    )


def client_python(socket: str | None, code: str, *args: str) -> subprocess.Popen[str]:
    """Start ``python -c code *args`` as a client of ``socket`` (stdio piped)."""
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(socket),
        text=True,
    )


#: A client that raises a harmless event (RDP enhanced mode changed) on system argv[1]
#: every 0.2 s until its stdin gets a line: to see when a watcher is attached.
_PINGER = """
import select, sys
from aiohcs import testing
while not select.select([sys.stdin], [], [], 0.2)[0]:
    testing.raise_system_event(sys.argv[1], 4)
"""


def first_line(stream: Any, timeout: float = STEP_S) -> str:
    """The next line of a child's stdout, or "" if none comes within ``timeout``."""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        return (selector.select(timeout) and stream.readline()) or ""


def wait_attached(socket: str, system_id: str, watcher: subprocess.Popen[str]) -> str:
    """Raise events on ``system_id`` until ``watcher`` prints one; that first line."""
    pinger = client_python(socket, _PINGER, system_id)
    try:
        return first_line(watcher.stdout)
    finally:
        pinger.communicate("\n", timeout=STEP_S)
