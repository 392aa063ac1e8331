"""The tool and the hcsim service, review findings: a watcher of a dead service, bad options.

As tests/test_service_cli.py: each test runs its own service and drives it with
``python -m aiohcs`` child processes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import CONTAINER, owned_by
from service_session import (
    STEP_S,
    ServiceProcess,
    aiohcs_cli,
    child_env,
    service_test_marks,
    short_socket_folder,
    wait_attached,
)

pytestmark = service_test_marks(300)

CONFIG = owned_by(CONTAINER, "service-review")


@pytest.fixture
def folder() -> Iterator[str]:
    path = short_socket_folder()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def sock(folder: str) -> str:
    return os.path.join(folder, "s.sock")


@pytest.fixture
def config(folder: str) -> str:
    path = os.path.join(folder, "c.json")
    Path(path).write_text(json.dumps(CONFIG))
    return path


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("aiohcs: error: ")
    return lines[0]


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
        watcher = subprocess.Popen(
            [sys.executable, "-m", "aiohcs", "events", "w1", "--follow", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=child_env(sock),
            text=True,
        )
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
    env = {**child_env(None), "XDG_RUNTIME_DIR": folder}
    del env["AIOHCS_HCSIM"]

    def tool(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "aiohcs", *argv],
            capture_output=True,
            text=True,
            env=env,
            timeout=STEP_S,
        )

    serve = subprocess.Popen(
        [sys.executable, "-m", "aiohcs", "hcsim", "serve"],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
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
