"""Every example in examples/ runs, as a separate process, and does what it says.

The HTTP service is driven with a real HTTP client (httpx) on 127.0.0.1 and an ephemeral
port, its server-sent events read while another client changes the systems.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers import CONTAINER, REPO, child_env, guest, interrupt_child, run_child

EXAMPLES = REPO / "examples"
TIMEOUT = 60


def run_example(name: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return run_child(str(EXAMPLES / name), *argv, timeout=TIMEOUT)


# ---------------------------------------------------------------- HTTP service


@pytest.fixture
def service() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "http_service.py"), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:"), line
        yield line.split()[-1]
    finally:
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
    if sys.platform == "win32":
        # terminate() is TerminateProcess(handle, 1) there: no signal, nothing to handle.
        assert proc.returncode == 1, err
    else:
        # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught.
        assert proc.returncode in (0, -signal.SIGTERM), err
    assert "Traceback" not in err, err


def _sse(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, object]]]:
    """(event name, data) for each server-sent event."""
    name = ""
    for line in lines:
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            yield name, json.loads(line[len("data: ") :])


def test_http_service_lifecycle_exec_and_events(service: str) -> None:
    timeout = httpx.Timeout(TIMEOUT)
    with httpx.Client(base_url=service, timeout=timeout) as client:
        created = client.post("/systems", json={"id": "c1", "config": CONTAINER, "start": True})
        assert created.status_code == 201, created.text
        assert created.json() == {"Id": "c1", "State": "Running"}

        listed = client.get("/systems").json()
        assert [(s["Id"], s["State"]) for s in listed] == [("c1", "Running")]
        assert client.get("/systems/c1").json()["Owner"] == CONTAINER["Owner"]

        done = client.post(
            "/systems/c1/exec",
            json={"command": guest("upper", "err oops", "exit 4"), "input": "hi"},
        )
        assert done.json() == {"exit_code": 4, "stdout": "HI", "stderr": "oops\n"}

        assert client.post("/systems/c1/pause").json()["State"] == "Paused"
        conflict = client.post("/systems/c1/pause")
        assert conflict.status_code == 409
        assert conflict.json()["hresult"] == "0x80370105"
        assert client.post("/systems/c1/resume").json()["State"] == "Running"

        missing = client.post("/systems/ghost/start")
        assert missing.status_code == 404
        assert "HCS_E_SYSTEM_NOT_FOUND" in missing.json()["error"]
        assert client.post("/systems", json={"config": CONTAINER}).status_code == 400

        with client.stream("GET", "/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert next(lines) == ": connected"
            # Change the systems from a second client while this one listens.
            with httpx.Client(base_url=service, timeout=timeout) as other:
                other.post("/systems", json={"id": "c2", "config": CONTAINER, "start": True})
                assert other.post("/systems/c1/terminate").json()["State"] == "Stopped"
                assert other.post("/systems/c2/shutdown").status_code == 200
            exits: dict[str, object] = {}
            for name, data in _sse(lines):
                assert name == data["event"]
                if name == "SystemExited":
                    assert isinstance(data["data"], dict)
                    exits[str(data["system"])] = data["data"]["ExitType"]
                if len(exits) == 2:
                    break
        assert exits == {"c1": "ForcedExit", "c2": "GracefulExit"}
        assert client.get("/systems").json() == []


# ---------------------------------------------------------------- scripts


def test_watch_events_prints_exits_and_crashes() -> None:
    result = run_example("watch_events.py", "--simulate")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(ln.startswith("CRASH ") and "worker process died" in ln for ln in lines), lines
    assert any(ln.startswith("CRASH ") and "guest crash" in ln for ln in lines), lines
    exits = {ln.split()[1]: ln for ln in lines if ln.startswith("EXIT ")}
    assert set(exits) == {"web", "db", "batch", "cache"}
    assert "ForcedExit" in exits["web"]
    assert "GracefulExit" in exits["batch"]
    assert "UnexpectedExit" in exits["db"]
    assert "UnexpectedExit" in exits["cache"]
    assert lines[-1] == "watched 4 systems: 2 crashed, 2 exited normally"


def test_save_terminate_restore(tmp_path: Path) -> None:
    result = run_example("save_restore.py", "--state-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "vm1: Running" in out
    assert "vm1: Paused" in out
    # The printed path is where the file is (absolute).
    assert f"vm1: saved to {tmp_path / 'vm1.vmrs'} (" in out
    assert "vm1: exited (ForcedExit)" in out
    assert "vm1-restored: Running (restored, 2048 MB memory)" in out
    assert (tmp_path / "vm1.vmrs").stat().st_size > 0


def test_live_migration() -> None:
    result = run_example("live_migration.py")
    assert result.returncode == 0, result.stderr
    assert "source: migration MigrationDone (Success)" in result.stdout
    assert "vm1-moved: Running" in result.stdout


def test_classic_vm_workflow(tmp_path: Path) -> None:
    result = run_example("classic_vm.py", "--dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    steps = [line[2:] for line in result.stdout.splitlines() if line.startswith("- ")]
    expected = [
        "created os.vhdx: dynamic VHDX, 1024 MiB virtual",
        "created vm.vmgs and vm.vmrs",
        "granted classic-vm access to os.vhdx, vm.vmgs, vm.vmrs",
        "created classic-vm",
        "started classic-vm: Running",
        "guest service: listening on c1a551c0-0b5e-4d2a-9a65-4ee5fa7e0001",
        "host <- 'guest: HELLO OVER HVSOCKET'",
        "paused classic-vm",
    ]
    assert steps[: len(expected)] == expected
    rest = steps[len(expected) :]
    assert rest[0].startswith("saved classic-vm to vm.save (")
    assert rest[1:3] == ["terminated classic-vm: ForcedExit", rest[2]]
    assert rest[2].startswith("processor requirements of the saved state: ")
    assert rest[3:] == [
        "granted classic-vm-restored access to os.vhdx, vm.vmgs, vm.vmrs, vm.save",
        "restored classic-vm-restored: Running",
        "process in classic-vm-restored said 'hi from the VM'",
        "shut down classic-vm-restored: GracefulExit",
        "revoked every grant",
    ]
    # --dir keeps the files: a VHDX and the state files, as the steps said.
    assert (tmp_path / "os.vhdx").read_bytes()[:8] == b"vhdxfile"
    assert {p.name for p in tmp_path.iterdir()} >= {"os.vhdx", "vm.vmgs", "vm.vmrs", "vm.save"}
    # Run again with the same --dir: refused in one line (no traceback), the files kept.
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    again = run_example("classic_vm.py", "--dir", str(tmp_path))
    assert again.returncode == 2
    assert not again.stdout
    assert again.stderr.count("\n") == 1, again.stderr
    assert f"--dir {tmp_path} is not empty" in again.stderr
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before


def test_classic_vm_refuses_a_file_as_its_folder(tmp_path: Path) -> None:
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    result = run_example("classic_vm.py", "--dir", str(a_file))
    assert result.returncode == 2
    assert result.stderr.strip().endswith(f"--dir {a_file} is not a folder")
    assert result.stderr.count("\n") == 1


def test_classic_vm_cleans_up_its_temporary_folder() -> None:
    result = run_example("classic_vm.py")
    assert result.returncode == 0, result.stderr
    last = result.stdout.splitlines()[-1]
    assert last.startswith("- removed ")
    assert last.endswith(" (keep the files with --dir DIR)")
    assert not Path(last.split()[2]).exists()


# ---------------------------------------------------------------- container network

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_NETWORK_STEPS = [
    rf"created NAT network ({_UUID}) \(172\.31\.0\.0/24\)",
    rf"created endpoint ({_UUID}): 172\.31\.0\.2",
    rf"created namespace ({_UUID})",
    "put the endpoint in the namespace",
    "created net-demo with the endpoint as its network adapter",
    "started net-demo: Running",
    "process exited 0, said 'hello from the container'",
]
_NETWORK_UNDO = [
    "terminated net-demo",
    "took the endpoint out of the namespace",
    "deleted the namespace",
    "deleted the endpoint",
    "deleted the network",
    "nothing left behind",
]


def _steps(stdout: str) -> list[str]:
    return [line[2:] for line in stdout.splitlines() if line.startswith("- ")]


def _match_steps(steps: list[str], patterns: list[str]) -> None:
    assert len(steps) >= len(patterns), steps
    for got, pattern in zip(steps, patterns, strict=False):
        assert re.fullmatch(pattern, got), (got, pattern)


def test_container_network_every_step_and_the_cleanup() -> None:
    result = run_example("container_network.py")
    assert result.returncode == 0, result.stderr
    steps = _steps(result.stdout)
    assert result.stdout.splitlines() == [f"- {s}" for s in steps]  # (nothing but steps)
    _match_steps(steps, _NETWORK_STEPS)
    assert steps[len(_NETWORK_STEPS) :] == _NETWORK_UNDO
    ids = [re.fullmatch(p, s) for p, s in zip(_NETWORK_STEPS[:3], steps, strict=False)]
    assert len({m.group(1) for m in ids if m}) == 3


def test_container_network_error_undoes_what_was_made() -> None:
    result = run_example("container_network.py", "--ip", "10.9.9.9")
    assert result.returncode == 1
    steps = _steps(result.stdout)
    _match_steps(steps, _NETWORK_STEPS[:1])
    assert steps[1:] == ["deleted the network", "nothing left behind"]
    (line,) = result.stderr.splitlines()
    assert line.startswith("container_network: error: invalid settings (HostComputeEndpoint)")
    assert "10.9.9.9 is outside every subnet of network" in line  # (refused before HNS)
    bad = run_example("container_network.py", "--prefix", "10.0.0.1/24")
    assert (bad.returncode, bad.stdout) == (1, "- nothing left behind\n")
    assert "host bits set" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.posix_only("POSIX signals")
def test_container_network_ctrl_c_cleans_up() -> None:
    code, out, err = interrupt_child(
        str(EXAMPLES / "container_network.py"), "--hold", after="press Ctrl-C to clean up"
    )
    assert code == 130, err
    assert "Traceback" not in err
    steps = _steps(out)
    _match_steps(steps, _NETWORK_STEPS)
    tail = steps[len(_NETWORK_STEPS) :]
    assert tail == ["holding: press Ctrl-C to clean up", "interrupted: cleaning up", *_NETWORK_UNDO]


def test_examples_are_all_tested() -> None:
    names = {p.name for p in EXAMPLES.glob("*.py")}
    source = Path(__file__).read_text()
    assert names == {n for n in names if f'"{n}"' in source}
