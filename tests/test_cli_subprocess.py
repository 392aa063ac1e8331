"""The ``aiohcs`` tool as a separate process: ``python -m aiohcs``, stdin, exit codes, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from helpers import CONTAINER, child_env, guest_line, run_child

TIMEOUT = 60


def cli(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return run_child("-m", "aiohcs", *argv, stdin=stdin, timeout=TIMEOUT)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(CONTAINER))
    return path


def test_console_script_entry_point() -> None:
    (ep,) = [e for e in entry_points(group="console_scripts") if e.name == "aiohcs"]
    assert ep.value == "aiohcs.cli:main"


def test_help_exits_0_and_explains_hcsim() -> None:
    result = cli("--help")
    assert result.returncode == 0
    assert "hcsim" in result.stdout
    assert "aiohcs script FILE" in result.stdout


def test_list_json() -> None:
    result = cli("list", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_error_is_one_line_on_stderr() -> None:
    result = cli("pause", "ghost")
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("aiohcs: error: HCS_E_SYSTEM_NOT_FOUND (0x8037010E)")


def test_usage_error_exits_2() -> None:
    result = cli("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_exec_pipes_stdin_and_exits_with_the_process_code(config: Path) -> None:
    script = f"create c1 {config} --start\nexec c1 -i -- {guest_line('upper', 'exit 42')}\n"
    path = config.parent / "s.txt"
    path.write_text(script)
    # The script comes from a file; exec -i reads the tool's own stdin.
    result = cli("script", str(path), stdin="shout this\n")
    assert result.returncode == 42
    assert "SHOUT THIS" in result.stdout


def test_script_from_stdin(config: Path) -> None:
    result = cli("script", "-", stdin=f"create c1 {config} --start --json\nkill c1 --json --wait\n")
    assert result.returncode == 0, result.stderr
    decoder, text, pos = json.JSONDecoder(), result.stdout, 0
    docs = []
    while text[pos:].strip():
        doc, pos = decoder.raw_decode(text, len(text) - len(text[pos:].lstrip()))
        docs.append(doc)
    assert docs[0] == {"Id": "c1", "State": "Running"}
    assert docs[1]["State"] == "Stopped"
    assert docs[1]["ExitStatus"]["ExitType"] == "ForcedExit"


def test_trio_backend(config: Path) -> None:
    result = cli("--backend", "trio", "script", "-", stdin=f"create c1 {config}\nlist\n")
    assert result.returncode == 0, result.stderr
    assert "c1  Container  Created" in result.stdout


def _start(argv: list[str], ready_text: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiohcs", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + TIMEOUT
    seen = ""
    while ready_text not in seen:
        assert time.monotonic() < deadline, seen
        line = proc.stdout.readline()
        assert line, f"exited early: {proc.wait()} {proc.stderr.read() if proc.stderr else ''}"
        seen += line
    return proc


@pytest.mark.posix_only("POSIX signals")
def test_ctrl_c_reaches_the_process_of_exec(config: Path) -> None:
    path = config.parent / "s.txt"
    path.write_text(
        f"create c1 {config} --start\n"
        'exec c1 -- sh -c \'trap "echo got-int; exit 5" INT; echo ready; '
        "while :; do sleep 0.05; done'\n"
    )
    proc = _start(["script", str(path)], "ready")
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 5
    assert "got-int" in out
    assert "sending an interrupt" in err


# The tool with a Ctrl-C pressed once the file argv[1] exists: the C runtime raises SIGINT
# (on Windows, a console's Ctrl-C reaches the program as that too).
_CTRL_C_WHEN_READY = """
import os, signal, sys, threading, time
from aiohcs.cli import main

def press(path):
    while not os.path.exists(path):
        time.sleep(0.02)
    signal.raise_signal(signal.SIGINT)

threading.Thread(target=press, args=(sys.argv[1],), daemon=True).start()
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_ctrl_c_reaches_the_process_of_exec_on_every_loop(config: Path, backend: str) -> None:
    """Windows too: asyncio has no signal receiver there, Ctrl-C must still be forwarded."""
    ready = config.parent / "ready"
    path = config.parent / "s.txt"
    path.write_text(
        f"create c1 {config} --start\nexec c1 -- {guest_line(f'touch {ready}', 'hold')}\n"
    )
    argv = ["--backend", backend, "script", str(path)]
    result = run_child("-c", _CTRL_C_WHEN_READY, str(ready), *argv, timeout=TIMEOUT)
    # the guest's exit code (a Windows guest's Ctrl-C exit, STATUS_CONTROL_C_EXIT), which a
    # POSIX host reports as a shell does an interrupted command: 128 + SIGINT
    assert result.returncode == (0xC000013A if sys.platform == "win32" else 130), result.stderr
    assert "sending an interrupt to process" in result.stderr
    assert "was killed" not in result.stderr


@pytest.mark.posix_only("POSIX signals")
def test_ctrl_c_twice_kills_the_process_and_says_so(config: Path) -> None:
    path = config.parent / "s.txt"
    path.write_text(
        f"create c1 {config} --start\n"
        "exec c1 -- sh -c 'trap \"\" INT; echo ready; while :; do sleep 0.05; done'\n"
    )
    proc = _start(["script", str(path)], "ready")
    os.kill(proc.pid, signal.SIGINT)
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 130
    assert "was killed" in err.splitlines()[-1]


@pytest.mark.posix_only("POSIX signals")
def test_ctrl_c_while_idle_exits_130(config: Path) -> None:
    path = config.parent / "s.txt"
    path.write_text(f"create c1 {config}\nsleep 60\n")
    proc = _start(["script", str(path)], "c1  Created")
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "aiohcs: interrupted"


def test_demo_runs_and_streams_a_process() -> None:
    result = cli("demo")
    assert result.returncode == 0, result.stderr
    assert "aiohcs-demo-container  stdout  | hello from inside it" in result.stdout
    assert "exec   -> exit code 3" in result.stdout
    assert "SystemExited" in result.stdout
    assert "aiohcs-demo-vm-restored restore -> Running" in result.stdout


@pytest.mark.posix_only("POSIX pseudo-terminals")
def test_exec_interactive_console_follows_the_terminal(config: Path) -> None:
    import fcntl
    import pty
    import select
    import struct
    import termios

    path = config.parent / "s.txt"
    path.write_text(
        f"create c1 {config} --start\n"
        "exec -it c1 -- sh -c 'stty size; read x; stty size; echo got:$x'\n"
        "kill c1\n"
    )
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiohcs", "script", str(path)],
        stdin=slave,
        stdout=slave,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env=child_env(),
    )
    os.close(slave)
    seen = b""

    def read_until(text: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + TIMEOUT
        while text not in seen:
            assert time.monotonic() < deadline, seen
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    seen += os.read(master, 4096)
                except OSError:  # EIO: the other side closed
                    break
        assert text in seen, seen

    try:
        read_until(b"30 100")
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        os.kill(proc.pid, signal.SIGWINCH)
        time.sleep(0.5)  # let the resize reach the guest console before it asks again
        os.write(master, b"hello\r")
        read_until(b"got:hello")
        assert b"40 120" in seen
        assert proc.wait(timeout=TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
        assert proc.stderr is not None
        proc.stderr.close()


@pytest.mark.posix_only("POSIX signals")
def test_ctrl_c_during_an_operation_says_it_may_still_complete(config: Path) -> None:
    path = config.parent / "s.txt"
    path.write_text(
        f"create c1 {config} --start\n"
        "pause c1\n"
        "sim delay HcsSaveComputeSystem 30000\n"
        f"save c1 {config.parent / 'c1.state'}\n"
    )
    proc = _start(["script", str(path)], "delayed")
    time.sleep(0.3)  # the save has been sent by now
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == (
        "aiohcs: interrupted: the save of 'c1' had already been sent to HCS and may still "
        "complete; 'aiohcs inspect c1' shows the state"
    )


def test_a_reader_that_goes_away_ends_exec_quietly(config: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiohcs", "script", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdin.write(f"create c1 {config} --start\nexec c1 -- {guest_line('count 10000000')}\n")
    proc.stdin.close()
    assert proc.stdout.readline() == "c1  Running\n"
    assert proc.stdout.readline() == "1\n"
    proc.stdout.close()  # like `| head -2`
    assert proc.wait(timeout=TIMEOUT) == 1  # the process in the system was killed, not left
    err = proc.stderr.read()
    proc.stderr.close()
    assert "Traceback" not in err
