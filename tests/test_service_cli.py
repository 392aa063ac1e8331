"""``aiohcs hcsim serve|status|stop`` and the tool as a client, through real processes.

Each test runs its own service (``python -m aiohcs hcsim serve --socket S``) and drives it
with ``python -m aiohcs`` child processes, as two terminals would: systems made by one
invocation are used by the next.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import CONTAINER, guest, owned_by
from service_session import (
    STEP_S,
    ServiceProcess,
    aiohcs_cli,
    child_env,
    client_python,
    service_test_marks,
    short_socket_folder,
    wait_attached,
)

pytestmark = service_test_marks(300)

CONFIG = owned_by(CONTAINER, "service-test")


@pytest.fixture
def folder() -> Iterator[str]:
    path = short_socket_folder()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def sock(folder: str) -> str:
    return os.path.join(folder, "s.sock")


@pytest.fixture
def service(sock: str) -> Iterator[ServiceProcess]:
    running = ServiceProcess(sock)
    assert running.ready_line, running.stderr()
    yield running
    running.close()


@pytest.fixture
def config(folder: str) -> str:
    path = os.path.join(folder, "c.json")
    Path(path).write_text(json.dumps(CONFIG))
    return path


def status(sock: str) -> dict[str, object]:
    result = aiohcs_cli(None, "hcsim", "status", "--socket", sock, "--json")
    assert result.returncode == 0, result.stderr
    doc: dict[str, object] = json.loads(result.stdout)
    return doc


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("aiohcs: error: ")
    return lines[0]


# ---------------------------------------------------------------- serve, status, stop


def test_serve_prints_its_socket_and_pid(service: ServiceProcess) -> None:
    assert service.ready_line.strip() == f"hcsim service on {service.socket} (pid {service.pid})"
    doc = status(service.socket)
    assert doc["ProcessId"] == service.pid
    assert doc["Socket"] == service.socket
    assert doc["Systems"] == 0
    assert isinstance(doc["UptimeMs"], int)


def test_status_text(service: ServiceProcess) -> None:
    result = aiohcs_cli(None, "hcsim", "status", "--socket", service.socket)
    assert result.returncode == 0, result.stderr
    assert "ProcessId:" in result.stdout
    assert "Uptime:" in result.stdout


def test_the_socket_is_owner_only(service: ServiceProcess) -> None:
    info = os.stat(service.socket)
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o600


def test_a_second_service_on_the_socket_is_refused(service: ServiceProcess) -> None:
    second = ServiceProcess(service.socket)
    try:
        assert second.wait() == 1
        assert second.ready_line == ""
        (line,) = second.stderr().splitlines()
        assert "already running" in line
        assert service.socket in line
    finally:
        second.close()
    assert status(service.socket)["ProcessId"] == service.pid


def test_a_stale_socket_is_taken_over(sock: str) -> None:
    first = ServiceProcess(sock)
    first.process.kill()
    first.wait()
    first.close()
    assert os.path.exists(sock)  # left behind by the killed service
    second = ServiceProcess(sock)
    try:
        assert second.ready_line, second.stderr()
        assert status(sock)["ProcessId"] == second.pid
    finally:
        second.close()


def test_stop_waits_until_the_service_is_gone(service: ServiceProcess) -> None:
    result = aiohcs_cli(None, "hcsim", "stop", "--socket", service.socket)
    assert result.returncode == 0, result.stderr
    assert f"(pid {service.pid}) stopped" in result.stdout
    assert service.wait() == 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_service(service: ServiceProcess, signum: int) -> None:
    service.process.send_signal(signum)
    assert service.wait() == 0
    result = aiohcs_cli(None, "hcsim", "status", "--socket", service.socket)
    assert result.returncode == 1


@pytest.mark.parametrize("action", ["status", "stop"])
def test_no_service_is_one_line_and_exit_1(sock: str, action: str) -> None:
    result = aiohcs_cli(None, "hcsim", action, "--socket", sock)
    assert result.returncode == 1
    line = one_error_line(result)
    assert "no service is running there" in line
    assert f"aiohcs hcsim serve --socket {sock}" in line


# ---------------------------------------------------------------- AIOHCS_HCSIM


def test_aiohcs_hcsim_without_a_service_fails_at_import(sock: str) -> None:
    child = client_python(sock, "import aiohcs.system")
    _, err = child.communicate(timeout=STEP_S)
    assert child.returncode == 1
    assert "HcsimServiceUnavailable" in err
    assert f"cannot use the hcsim service at {sock} (AIOHCS_HCSIM)" in err
    assert f"aiohcs hcsim serve --socket {sock}" in err


def test_the_tool_with_a_dead_aiohcs_hcsim_says_so_in_one_line(sock: str) -> None:
    result = aiohcs_cli(sock, "list")
    assert result.returncode == 1
    assert "aiohcs hcsim serve" in one_error_line(result)


def test_the_service_ignores_aiohcs_hcsim(sock: str, folder: str) -> None:
    env = {**child_env(os.path.join(folder, "other.sock"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiohcs", "hcsim", "serve", "--socket", sock],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("hcsim service on")
    finally:
        proc.terminate()
        proc.wait(STEP_S)
        assert proc.stdout is not None
        proc.stdout.close()


# ---------------------------------------------------------------- two terminals


def test_a_two_terminal_session(service: ServiceProcess, config: str) -> None:
    sock = service.socket
    created = aiohcs_cli(sock, "create", "c1", config, "--start")
    assert created.returncode == 0, created.stderr
    assert created.stdout.split() == ["c1", "Running"]
    assert "ends with it" not in created.stderr

    listed = aiohcs_cli(sock, "list", "--json", "--owner", "service-test")
    assert [(s["Id"], s["State"]) for s in json.loads(listed.stdout)] == [("c1", "Running")]

    ran = aiohcs_cli(sock, "exec", "c1", "--", *guest("echo hi", "exit 3"))
    assert ran.returncode == 3, ran.stderr
    assert ran.stdout.strip() == "hi"

    events = follow_events(sock, "c1")
    try:
        assert json.loads(wait_attached(sock, "c1", events))["system"] == "c1"
        killed = aiohcs_cli(sock, "kill", "c1", "--wait", "--timeout", "30")
        assert killed.returncode == 0, killed.stderr
        out, err = events.communicate(timeout=STEP_S)
    finally:
        if events.poll() is None:
            events.kill()
            events.communicate()
    assert events.returncode == 0, err
    kinds = [json.loads(line)["event"] for line in out.splitlines()]
    assert kinds[-1] == "SystemExited"

    gone = aiohcs_cli(sock, "inspect", "c1")
    assert gone.returncode == 1
    assert "HCS_E_SYSTEM_NOT_FOUND" in one_error_line(gone)
    assert "aiohcs hcsim serve" not in gone.stderr


def follow_events(sock: str, system_id: str) -> subprocess.Popen[str]:
    """``aiohcs events SYSTEM_ID --follow --json`` as a client of ``sock``, running."""
    return subprocess.Popen(
        [sys.executable, "-m", "aiohcs", "events", system_id, "--follow", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(sock),
        text=True,
    )


def default_socket_env(folder: str) -> dict[str, str]:
    """A child's environment whose default socket is under ``folder`` (no AIOHCS_HCSIM)."""
    env = {**child_env(None), "XDG_RUNTIME_DIR": folder}
    del env["AIOHCS_HCSIM"]
    return env


def run_tool(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    """``python -m aiohcs ARGV`` in ``env``, to its end."""
    return subprocess.run(
        [sys.executable, "-m", "aiohcs", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=STEP_S,
    )


def serve_default_socket(env: dict[str, str]) -> subprocess.Popen[str]:
    """``python -m aiohcs hcsim serve`` on the default socket of ``env``."""
    return subprocess.Popen(
        [sys.executable, "-m", "aiohcs", "hcsim", "serve"],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )


def test_the_tool_uses_a_live_default_socket(folder: str, config: str) -> None:
    env = default_socket_env(folder)

    def tool(*argv: str) -> subprocess.CompletedProcess[str]:
        return run_tool(env, *argv)

    serve = serve_default_socket(env)
    try:
        assert serve.stdout is not None
        line = serve.stdout.readline()
        assert line.startswith(f"hcsim service on {folder}/aiohcs/hcsim.sock")
        assert tool("create", "d1", config).returncode == 0
        listed = tool("list", "--json", "--owner", "service-test")
        assert [s["Id"] for s in json.loads(listed.stdout)] == ["d1"]
        assert tool("hcsim", "stop").returncode == 0
        assert serve.wait(STEP_S) == 0
        # No service: the tool runs its own, empty emulator again.
        alone = tool("list", "--json", "--owner", "service-test")
        assert json.loads(alone.stdout) == []
    finally:
        if serve.poll() is None:
            serve.kill()
        serve.wait()
        assert serve.stdout is not None
        serve.stdout.close()


def test_a_scripts_system_is_seen_by_another_process(service: ServiceProcess) -> None:
    code = f"""
import sys, anyio
from aiohcs import ComputeSystem
async def main():
    async with await ComputeSystem.create("s1", {CONFIG!r}) as system:
        await system.start()
        print("ready", flush=True)
        sys.stdin.readline()
anyio.run(main)
"""
    script = client_python(service.socket, code)
    try:
        assert script.stdout is not None
        assert script.stdin is not None
        assert script.stdout.readline().strip() == "ready"
        seen = aiohcs_cli(service.socket, "inspect", "s1", "--json")
        assert seen.returncode == 0, seen.stderr
        assert json.loads(seen.stdout)["State"] == "Running"
        assert status(service.socket)["Systems"] == 1
        script.stdin.write("\n")
        script.stdin.flush()
        assert script.wait(STEP_S) == 0
    finally:
        if script.poll() is None:
            script.kill()
        script.communicate()
    # Systems outlive their creator: s1 is still there after the script exited.
    seen = aiohcs_cli(service.socket, "list", "--json", "--owner", "service-test")
    assert [s["Id"] for s in json.loads(seen.stdout)] == ["s1"]


def test_a_clients_disconnect_is_its_own(service: ServiceProcess, config: str) -> None:
    sock = service.socket
    created = aiohcs_cli(sock, "create", "d1", config, "--start")
    assert created.returncode == 0, created.stderr
    dropped = aiohcs_cli(sock, "sim", "disconnect")
    assert dropped.returncode == 0, dropped.stderr
    # the service and its other clients go on: d1 is still there, and still running
    listed = aiohcs_cli(sock, "list", "--json", "--owner", "service-test")
    assert listed.returncode == 0, listed.stderr
    assert [(s["Id"], s["State"]) for s in json.loads(listed.stdout)] == [("d1", "Running")]
    assert status(sock)["Systems"] == 1
    # a client's reset after its disconnect connects again, then resets the whole host
    code = """
from aiohcs import testing
testing.disconnect_service()
testing.reset()
print("reset", flush=True)
"""
    script = client_python(sock, code)
    out, err = script.communicate(timeout=STEP_S)
    assert script.returncode == 0, err
    assert out.strip() == "reset"
    assert status(sock)["Systems"] == 0


# ------------------------------------------- a watcher of a dead service, bad options


# ---------------------------------------------------------------- events --follow


@pytest.mark.parametrize("end", ["kill", "stop"])
def test_events_follow_of_one_system_fails_when_the_service_goes(
    sock: str, config: str, end: str
) -> None:
    service = ServiceProcess(sock)
    try:
        assert service.ready_line, service.stderr()
        created = aiohcs_cli(sock, "create", "w1", config, "--start")
        assert created.returncode == 0, created.stderr
        watcher = follow_events(sock, "w1")
        try:
            assert json.loads(wait_attached(sock, "w1", watcher))["system"] == "w1"
            if end == "kill":
                service.process.send_signal(signal.SIGKILL)
            else:
                assert aiohcs_cli(None, "hcsim", "stop", "--socket", sock).returncode == 0
            service.wait()
            out, err = watcher.communicate(timeout=STEP_S)
        finally:
            if watcher.poll() is None:
                watcher.kill()
                watcher.communicate()
    finally:
        service.close()
    result = subprocess.CompletedProcess(watcher.args, watcher.returncode, out, err)
    assert watcher.returncode == 1, err
    assert "HCS_E_SERVICE_DISCONNECT" in one_error_line(result)
    kinds = [json.loads(line)["event"] for line in out.splitlines()]
    assert "SystemExited" not in kinds


# ---------------------------------------------------------------- option values


@pytest.mark.parametrize("value", ["-1", "0", "nan", "soon"])
def test_stop_timeout_must_be_positive(sock: str, value: str) -> None:
    result = aiohcs_cli(None, "hcsim", "stop", "--socket", sock, "--timeout", value)
    assert result.returncode == 2, result.stderr
    assert "--timeout" in result.stderr
    assert "did not stop" not in result.stderr


def _unknown_gid() -> int:
    import grp

    gid = 99999
    while True:
        try:
            grp.getgrgid(gid)
        except KeyError:
            return gid
        gid += 1


@pytest.mark.parametrize("kind", ["gid", "name"])
def test_serve_refuses_a_group_the_system_does_not_know(sock: str, kind: str) -> None:
    value = str(_unknown_gid()) if kind == "gid" else "no-such-group-aiohcs"
    result = aiohcs_cli(None, "hcsim", "serve", "--socket", sock, "--group", value)
    assert result.returncode == 1, result.stderr
    assert f"--group: no group {'with id' if kind == 'gid' else 'named'}" in one_error_line(result)
    assert value in result.stderr
    assert not os.path.exists(sock)


def test_serve_takes_the_gid_of_a_known_group(sock: str) -> None:
    service = ServiceProcess(sock, "--group", str(os.getgid()))
    try:
        assert service.ready_line.startswith(f"hcsim service on {sock}"), service.stderr()
    finally:
        service.close()


# ---------------------------------------------------------------- a stale default socket


def test_the_tool_says_when_the_default_socket_is_stale(folder: str) -> None:
    env = default_socket_env(folder)

    def tool(*argv: str) -> subprocess.CompletedProcess[str]:
        return run_tool(env, *argv)

    serve = serve_default_socket(env)
    path = os.path.join(folder, "aiohcs", "hcsim.sock")
    try:
        assert serve.stdout is not None
        assert serve.stdout.readline().startswith(f"hcsim service on {path}")
        live = tool("list", "--json")
        assert live.returncode == 0, live.stderr
        assert live.stderr == ""
        serve.send_signal(signal.SIGKILL)
        serve.wait(STEP_S)
    finally:
        if serve.poll() is None:
            serve.kill()
        serve.wait()
        assert serve.stdout is not None
        serve.stdout.close()
    assert os.path.exists(path)  # killed: nobody removed its socket

    stale = tool("list", "--json")
    assert stale.returncode == 0, stale.stderr
    assert json.loads(stale.stdout) == []
    assert stale.stderr.splitlines() == [
        f"aiohcs: no hcsim service answers at {path} (a stale socket); "
        "running hcsim in this process"
    ]
    status = tool("hcsim", "status")
    assert status.returncode == 1
    assert "stale socket" not in status.stderr
