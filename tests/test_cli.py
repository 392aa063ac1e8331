"""The ``aiohcs`` command line tool, run in-process through ``main(argv)``.

On hcsim every invocation starts with an empty emulator, so multi-step scenarios run as
``aiohcs script``. JSON output is parsed back; exit codes and one-line errors are checked.
"""

from __future__ import annotations

import io
import json
import re
import shlex
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import anyio
import helpers
import pytest
from helpers import WINE, guest_line, owned_by

from aiohcs import ComputeSystem
from aiohcs.cli import build_parser, main
from aiohcs.cli._interrupts import _posted_interrupts
from aiohcs.cli._runtime import CliError
from aiohcs.cli._script import parse_script, split_words
from aiohcs.schema import SystemExitStatus

# Their own owner: ``list --owner cli-test`` finds exactly the systems of these tests.
CONTAINER = owned_by(helpers.CONTAINER, "cli-test")
VM = owned_by(helpers.VM, "cli-test")


class Result:
    """Exit code and captured output of one run."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def documents(self) -> list[Any]:
        """Every JSON document in stdout, in order (text lines between them skipped)."""
        decoder, text, pos = json.JSONDecoder(), self.out, 0
        docs: list[Any] = []
        while True:
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos >= len(text):
                return docs
            if text[pos] in "[{":
                doc, pos = decoder.raw_decode(text, pos)
                docs.append(doc)
            else:  # a line of text output
                end = text.find("\n", pos)
                pos = len(text) if end < 0 else end


def run(*argv: str) -> Result:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    (tmp_path / "c.json").write_text(json.dumps(CONTAINER))
    (tmp_path / "vm.json").write_text(json.dumps(VM))
    return tmp_path


def script(tmp_path: Path, text: str, *extra: str) -> Result:
    path = tmp_path / "script.txt"
    path.write_text(text)
    return run(*extra, "script", str(path))


def error_line(result: Result) -> str:
    lines = [line for line in result.err.splitlines() if line.startswith("aiohcs: error:")]
    assert len(lines) == 1, result.err
    return lines[0]


# ---------------------------------------------------------------- single commands


def test_no_command_prints_help_and_exits_2() -> None:
    result = run()
    assert result.code == 2
    assert "aiohcs script FILE" in result.out


def test_help_says_what_a_command_sees_on_hcsim() -> None:
    text = build_parser().format_help()
    assert "hcsim" in text
    assert "each invocation" in text


def test_list_json_on_a_fresh_emulator_is_an_empty_list() -> None:
    result = run("list", "--json")
    assert result.code == 0
    assert json.loads(result.out) == []


def test_list_table_has_headers() -> None:
    result = run("list")
    assert result.code == 0
    assert result.out.split() == ["ID", "TYPE", "STATE", "OWNER", "OS", "RUNTIME", "ID"]


def test_service_json() -> None:
    result = run("service", "--json")
    assert result.code == 0
    doc = json.loads(result.out)
    assert doc["Properties"][0]["SupportedSchemaVersions"]


@pytest.mark.parametrize("command", ["start", "pause", "resume", "kill", "shutdown", "inspect"])
def test_unknown_system_is_one_line_and_exit_1(command: str) -> None:
    result = run(command, "no-such-system")
    assert result.code == 1
    assert result.out == ""
    line = error_line(result)
    assert "HCS_E_SYSTEM_NOT_FOUND" in line
    assert "'no-such-system'" in line


def test_missing_config_file(tmp_path: Path) -> None:
    result = run("create", "x", str(tmp_path / "missing.json"))
    assert result.code == 1
    assert "missing.json" in error_line(result)


def test_invalid_config_json(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    result = run("create", "x", str(path))
    assert result.code == 1
    assert "invalid JSON" in error_line(result)


@pytest.mark.hcsim_leaves_systems
def test_create_json_reports_the_state(configs: Path) -> None:
    result = run("create", "c1", str(configs / "c.json"), "--start", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out) == {"Id": "c1", "State": "Running"}


def test_usage_error_exits_2() -> None:
    assert run("start").code == 2
    assert run("bogus").code == 2
    assert run("list", "--", "x").code == 2


def test_bare_wait_outside_a_script() -> None:
    result = run("wait")
    assert result.code == 2
    assert "scripts" in error_line(result)


def test_sim_crash_needs_an_id() -> None:
    result = run("sim", "crash")
    assert result.code == 1
    assert "needs a system id" in error_line(result)


def test_exec_arguments_after_double_dash() -> None:
    from aiohcs.cli import parse_command

    args = parse_command(build_parser(), ["exec", "c1", "-i", "--", "sh", "-c", "x", "--", "-i"])
    assert args.id == "c1"
    assert args.interactive
    assert args.cmd == ["sh", "-c", "x", "--", "-i"]


# ---------------------------------------------------------------- scripts


def test_parse_script_words_comments_and_background() -> None:
    lines = parse_script('# hi\n\nexec c1 -- sh -c "a b" # note\nevents -f &\nlist&\n')
    assert [(ln.number, ln.argv, ln.background) for ln in lines] == [
        (3, ["exec", "c1", "--", "sh", "-c", "a b"], False),
        (4, ["events", "-f"], True),
        (5, ["list"], True),
    ]
    with pytest.raises(CliError):
        parse_script('exec c1 "unclosed\n')


@pytest.mark.parametrize("platform", ["linux", "win32"])
def test_script_words_and_backslashes(monkeypatch: pytest.MonkeyPatch, platform: str) -> None:
    """A Windows path stays one word on Windows; elsewhere a backslash escapes."""
    monkeypatch.setattr(sys, "platform", platform)
    words = split_words(r'create c1 C:\x\c.json "a b" # note')
    path = r"C:\x\c.json" if platform == "win32" else "C:xc.json"
    assert words == ["create", "c1", path, "a b"]
    quoted = shlex.join(["C:\\p y\\python.exe", "it's"])
    assert split_words(quoted) == ["C:\\p y\\python.exe", "it's"]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_script_lifecycle_with_json(configs: Path, backend: str) -> None:
    result = script(
        configs,
        f"create c1 {configs / 'c.json'} --json\n"
        "start c1 --json\n"
        "list --json --owner cli-test\n"
        "pause c1 --json\n"
        "resume c1 --json\n"
        "inspect c1 --property Statistics --json\n"
        "kill c1 --json\n",
        "--backend",
        backend,
    )
    assert result.code == 0, result.err
    created, started, listed, paused, resumed, inspected, killed = result.documents()
    assert created == {"Id": "c1", "State": "Created"}
    assert started["State"] == "Running"
    assert [s["Id"] for s in listed] == ["c1"]
    assert listed[0]["SystemType"] == "Container"
    assert paused["State"] == "Paused"
    assert resumed["State"] == "Running"
    assert inspected["Id"] == "c1"
    assert "Statistics" in inspected
    assert killed == {"Id": "c1", "State": "Stopped", "ExitType": "ForcedExit"}


def test_script_events_follow_json_lines(configs: Path) -> None:
    result = script(
        configs,
        f"create c1 {configs / 'c.json'} --start\nevents c1 --follow --json &\nkill c1\nwait\n",
    )
    assert result.code == 0, result.err
    lines = [json.loads(line) for line in result.out.splitlines() if line.startswith("{")]
    assert len(lines) == 1
    event = lines[0]
    assert event["system"] == "c1"
    assert event["event"] == "SystemExited"
    assert event["type"] == 1
    assert event["data"]["ExitType"] == "ForcedExit"


def test_script_events_of_every_system_see_a_crash(configs: Path) -> None:
    result = script(
        configs,
        f"create a {configs / 'c.json'} --start\n"
        f"create b {configs / 'vm.json'} --start\n"
        "events --follow --json --count 2 --timeout 30 &\n"
        "sim crash b\n"
        "kill a\n"
        "wait\n",
    )
    assert result.code == 0, result.err
    events = [json.loads(line) for line in result.out.splitlines() if line.startswith("{")]
    by_system = {e["system"]: e for e in events}
    assert by_system["b"]["data"]["ExitType"] == "UnexpectedExit"
    assert by_system["a"]["data"]["ExitType"] == "ForcedExit"


def test_script_next_event_without_follow(configs: Path) -> None:
    result = script(
        configs,
        f"create c1 {configs / 'c.json'} --start\n"
        "events c1 --json &\n"
        "sim guest-shutdown c1\n"
        "wait\n",
    )
    assert result.code == 0, result.err
    (event,) = [json.loads(x) for x in result.out.splitlines() if x.startswith("{")]
    assert event["data"]["ExitType"] == "GracefulExit"


def test_script_wait_for_exit(configs: Path) -> None:
    result = script(
        configs,
        f"create c1 {configs / 'c.json'} --start\nwait c1 --json &\nshutdown c1\nwait\n",
    )
    assert result.code == 0, result.err
    docs = result.documents()
    assert {"Id": "c1", "ExitStatus": docs[-1]["ExitStatus"]} == docs[-1]
    assert docs[-1]["ExitStatus"]["ExitType"] == "GracefulExit"


@pytest.mark.hcsim_leaves_systems
def test_script_exec_streams_output_and_returns_exit_code(configs: Path) -> None:
    result = script(
        configs,
        f"create c1 {configs / 'c.json'} --start\n"
        f"exec c1 -- {guest_line('echo out-line', 'err err-line', 'exit 7')}\n"
        "list\n",
    )
    assert result.code == 7
    assert "out-line" in result.out
    assert "err-line" in result.err
    assert "list" not in result.out.split("out-line")[1]  # the script stopped there
    assert "line 2 failed" in result.err


def test_script_exec_environment_and_cwd(configs: Path) -> None:
    result = script(
        configs,
        f"create c1 {configs / 'c.json'} --start\n"
        f"exec c1 --cwd {shlex.quote(str(configs))} -e GREETING=hej -- "
        f"{guest_line('env GREETING', 'cwd')}\n"
        "kill c1\n",
    )
    assert result.code == 0, result.err
    assert "hej" in result.out
    assert str(configs) in result.out


def test_script_save_kill_restore(configs: Path) -> None:
    state = configs / "vm.vmrs"
    result = script(
        configs,
        f"create vm1 {configs / 'vm.json'} --start\n"
        f"save vm1 {state} --pause --json\n"
        "kill vm1\n"
        f"grant vm2 {state}\n"
        f"restore vm2 {configs / 'vm.json'} {state} --json\n"
        "list --json\n"
        "kill vm2\n",
    )
    assert result.code == 0, result.err
    saved, restored, listed = result.documents()
    assert saved["State"] == "Paused"
    assert saved["SavedTo"] == str(state)
    assert state.stat().st_size > 0
    assert restored["State"] == "Running"
    assert [(s["Id"], s["State"]) for s in listed] == [("vm2", "Running")]


@pytest.mark.hcsim_leaves_systems
def test_save_of_a_running_system_explains_the_state(configs: Path) -> None:
    result = script(configs, f"create c1 {configs / 'c.json'} --start\nsave c1 x.vmrs\n")
    assert result.code == 1
    assert "HCS_E_INVALID_STATE" in error_line(result)
    assert "line 2 failed" in result.err


@pytest.mark.hcsim_leaves_systems
def test_script_stops_at_the_first_failing_line(configs: Path) -> None:
    result = script(configs, f"create c1 {configs / 'c.json'}\nstart nope\ncreate c2 nope\n")
    assert result.code == 1
    assert "HCS_E_SYSTEM_NOT_FOUND" in error_line(result)
    assert "c1  Created" in result.out
    assert "c2" not in result.out


@pytest.mark.parametrize("line", ["demo", "script x.txt", "start"])
def test_script_refuses_demo_nested_scripts_and_bad_usage(tmp_path: Path, line: str) -> None:
    result = script(tmp_path, f"{line}\n")
    assert result.code == 2


def test_script_background_failure_is_reported_at_wait(tmp_path: Path) -> None:
    result = script(tmp_path, "events nope -f &\nwait\nlist\n")
    assert result.code == 1
    assert "HCS_E_SYSTEM_NOT_FOUND" in error_line(result)
    assert "ID" not in result.out  # 'list' did not run


def test_missing_script_file(tmp_path: Path) -> None:
    result = run("script", str(tmp_path / "nope.txt"))
    assert result.code == 1
    assert "nope.txt" in error_line(result)


def test_namespace_option_reaches_hcs(configs: Path) -> None:
    result = script(
        configs,
        f"create c1 {configs / 'c.json'} --start --namespace ns1\n"
        "list --json\n"
        "list --json --namespace ns1\n"
        "kill c1 --namespace ns1\n",
    )
    assert result.code == 0, result.err
    default_ns, ns1 = result.documents()
    assert default_ns == []
    assert [s["Id"] for s in ns1] == ["c1"]


class _Terminal(io.StringIO):
    """A captured stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_progress_is_shown_on_a_terminal_only(configs: Path) -> None:
    path = configs / "s.txt"
    path.write_text(
        f"create c1 {configs / 'c.json'}\n"
        "sim delay HcsStartComputeSystem 400\n"
        "start c1\n"
        "pause c1 --json\n"
        "kill c1\n"
    )
    out, err = io.StringIO(), _Terminal()
    assert main(["script", str(path)], stdout=out, stderr=err) == 0, err.getvalue()
    progress = err.getvalue()
    assert "starting c1" in progress  # the spinner line, with the elapsed time
    assert "s\r\x1b[K" in progress  # erased before the result is printed
    assert "pausing" not in progress  # no progress with --json
    assert "starting" not in out.getvalue()
    assert "c1  Running" in out.getvalue()


@pytest.mark.hcsim_leaves_systems
def test_sim_fail_makes_the_next_operation_fail(configs: Path) -> None:
    result = script(
        configs,
        f"create c1 {configs / 'c.json'} --start\n"
        "sim fail HcsPauseComputeSystem 0x80370109 --json\n"
        "pause c1\n",
    )
    assert result.code == 1
    assert result.documents() == [{"action": "fail", "target": "HcsPauseComputeSystem", "ok": True}]
    assert "HCS_E_CONNECTION_TIMEOUT (0x80370109) in Pause" in error_line(result)


@pytest.mark.parametrize(
    "line",
    ["sim fail HcsPauseComputeSystem 5", "sim delay HcsPauseComputeSystem", "sim delay X ms"],
)
def test_sim_rejects_bad_values(tmp_path: Path, line: str) -> None:
    result = script(tmp_path, line + "\n")
    assert result.code == 1
    assert "sim" in error_line(result)


@pytest.mark.xfail(WINE, reason="Wine's pseudo-consoles (helpers.WINE)", strict=True)
def test_exec_with_a_console(configs: Path) -> None:
    result = script(
        configs,
        f"create c1 {configs / 'c.json'} --start\n"
        f"exec -t c1 -- {guest_line('size', 'isatty')}\n"
        "kill c1\n",
    )
    assert result.code == 0, result.err
    assert "25 80" in result.out  # not on a terminal: the default console size
    assert "on-a-tty" in result.out


def test_inspect_as_text(configs: Path) -> None:
    result = script(
        configs,
        # (a VM: the Memory property, MemoryInformationForVm, describes VMs only)
        f"create v1 {configs / 'vm.json'} --start\ninspect v1 --property Memory\nkill v1\n",
    )
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[1].split() == ["Id:", "v1"]
    assert ["Stopped:", "false"] in [line.split() for line in lines]
    assert "Memory:" in lines
    nested = lines[lines.index("Memory:") + 1 :]
    assert nested[0] == "  {"
    assert '    "VirtualNodeCount": 1,' in nested


def _subcommands() -> list[str]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    assert sub.choices is not None
    return sorted(sub.choices)


@pytest.mark.parametrize("command", _subcommands())
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([command, "--help"])
    assert exc.value.code == 0
    assert f"usage: aiohcs {command}" in capsys.readouterr().out


# ---------------------------------------------------------------- issue 11, item 9


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["events", "--interval", "-1"], "--interval"),
        (["events", "--interval", "0"], "--interval"),
        (["events", "--count", "0"], "--count"),
        (["events", "--timeout", "-1"], "--timeout"),
        (["wait", "c1", "--timeout", "nan"], "--timeout"),
        (["kill", "c1", "--wait", "--timeout", "-0.5"], "--timeout"),
        (["exec", "c1", "--drain-timeout", "-1", "--", "true"], "--drain-timeout"),
        (["sleep", "-1"], "seconds"),
    ],
)
def test_bad_numbers_are_usage_errors_naming_the_option(
    argv: list[str], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(*argv)
    assert result.code == 2
    err = capsys.readouterr().err
    assert re.search(rf"error: argument (-\w/)?{option}: ", err), err
    assert repr(argv[argv.index(option) + 1] if option in argv else argv[-1]) in err


def test_exec_without_a_command_is_a_usage_error(
    configs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("exec", "c1").code == 2
    assert "exec needs a command" in capsys.readouterr().err
    result = script(configs, "exec c1\n")
    assert result.code == 2
    assert "line 1: usage error: exec c1" in result.err


@pytest.mark.hcsim_leaves_systems  # (the script stops at the failing line)
@pytest.mark.parametrize("line", ["wait c1 --timeout 0", "wait c1 --timeout 0.2"])
def test_wait_timeouts_say_what_timed_out(configs: Path, line: str) -> None:
    result = script(configs, f"create c1 {configs / 'c.json'} --start\n{line}\n")
    assert result.code == 1
    timeout = line.split()[-1]
    assert error_line(result) == f"aiohcs: error: c1 did not exit within {float(timeout):g} s"


@pytest.mark.parametrize("timeout", ["0", "0.2"])
def test_kill_wait_timeout_says_what_timed_out(
    configs: Path, timeout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # hcsim reports the exit together with the terminate, so it would often come before
    # the deadline's first check: here the exit status never comes, and the deadline fires.
    async def never_exits(self: ComputeSystem) -> SystemExitStatus:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    monkeypatch.setattr(ComputeSystem, "wait", never_exits)
    result = script(
        configs, f"create c1 {configs / 'c.json'} --start\nkill c1 --wait --timeout {timeout}\n"
    )
    assert result.code == 1
    assert error_line(result) == f"aiohcs: error: c1 did not exit within {float(timeout):g} s"


def test_an_error_without_a_message_is_named_by_its_class() -> None:
    from aiohcs.cli._runtime import describe_error

    assert describe_error(TimeoutError()) == "TimeoutError"
    assert describe_error(ValueError("")) == "ValueError"
    assert describe_error(ValueError("bad")) == "bad"


def test_kill_wait_prints_the_exit_status_in_one_line(configs: Path) -> None:
    result = script(configs, f"create c1 {configs / 'c.json'} --start\nkill c1 --wait\n")
    assert result.code == 0, result.err
    assert result.out.splitlines()[-1] == "c1  Stopped  ForcedExit status=0x00000000"


def test_wait_prints_the_exit_status_like_events_do(configs: Path) -> None:
    result = script(
        configs,
        f"create c1 {configs / 'c.json'} --start\nwait c1 &\nsim crash c1\nwait\n",
    )
    assert result.code == 0, result.err
    (line,) = [line for line in result.out.splitlines() if "exited" in line]
    assert re.fullmatch(r"c1  exited  UnexpectedExit status=0x8037[0-9A-F]{4}", line), line


def test_exec_in_the_background_runs_in_the_background(configs: Path) -> None:
    # The background exec waits (10 s at most) for a file the foreground exec creates:
    # it can only print "bg" if the next line ran while it was still running.
    flag = configs / "flag"
    result = script(
        configs,
        f"create c1 {configs / 'c.json'} --start\n"
        f"exec c1 -- {guest_line(f'await-file {flag}', 'echo bg')} &\n"
        f"exec c1 -- {guest_line('echo fg', f'touch {flag}')}\n"
        "wait\n"
        "kill c1\n",
    )
    assert result.code == 0, result.err
    assert result.out.splitlines()[1:3] == ["fg", "bg"]


@pytest.mark.hcsim_leaves_systems  # (the script stops at the failing line)
def test_exec_honours_its_drain_timeout(configs: Path) -> None:
    """A background child holding the output open does not keep exec waiting."""
    started = time.monotonic()
    result = script(
        configs,
        f"create c1 {configs / 'c.json'} --start\n"
        "exec c1 --drain-timeout 0.2 -- "
        f"{guest_line('spawn sleep 15', 'echo started', 'exit 4')}\n",
    )
    elapsed = time.monotonic() - started
    assert result.code == 4, result.err
    assert "started" in result.out
    assert "stdout and stderr stayed open" in result.err
    assert elapsed < 10  # (not the 15 s of the child)


def test_exec_leaves_the_warning_filters_as_they_were(configs: Path) -> None:
    """exec hides PipesNotClosed (it prints a note) without changing the process's filters.

    The two overlapping execs end in the order they did not start in (the background one
    first), which a catch_warnings per exec would restore out of order.
    """
    flag = configs / "flag"
    before = list(warnings.filters)
    result = script(
        configs,
        f"create c1 {configs / 'c.json'} --start\n"
        f"exec c1 --drain-timeout 0.2 -- {guest_line('spawn sleep 15', 'echo started')}\n"
        f"exec c1 -- {guest_line(f'await-file {flag}')} &\n"
        f"exec c1 -- {guest_line(f'touch {flag}', 'sleep 1')}\n"
        "wait\n"
        "kill c1\n",
    )
    assert result.code == 0, result.err
    assert "stdout and stderr stayed open" in result.err
    assert warnings.filters == before


@pytest.mark.hcsim_leaves_systems
def test_create_on_hcsim_says_the_system_ends_with_the_command(configs: Path) -> None:
    result = run("create", "c1", str(configs / "c.json"))
    assert result.code == 0
    assert "c1 ends with it" in result.err
    assert "aiohcs script" in result.err
    (sub,) = [a for a in build_parser()._actions if a.dest == "command"]
    assert isinstance(sub.choices, dict)
    help_text = sub.choices["create"].format_help()
    assert "outlives the command" in help_text
    assert "On hcsim" in help_text
    # In a script the system stays for the next lines: no note there.
    in_script = script(configs, f"create c2 {configs / 'c.json'}\nkill c2\n")
    assert in_script.code == 0
    assert "ends with it" not in in_script.err


# ---------------------------------------------------------------- issue 11, item 12: the demo

_SAVE_LINE = re.compile(r"save   -> (?P<path>.+\.vmrs) \((?P<size>\d+) bytes, (?P<fate>[^)]*)\)$")


def _saved(out: str) -> list[re.Match[str]]:
    matches = [m for line in out.splitlines() if (m := _SAVE_LINE.search(line))]
    assert len(matches) == 2, out
    return matches


def test_demo_prints_where_the_kept_state_files_are(tmp_path: Path) -> None:
    target = tmp_path / "states"
    result = run("demo", "--save-dir", str(target))
    assert result.code == 0, result.err
    for match in _saved(result.out):
        path = Path(match["path"])
        assert path.is_absolute()
        assert path.parent == target
        assert match["fate"] == "kept"
        assert path.stat().st_size == int(match["size"])  # still there, as printed
    assert "removed" not in result.out


def test_demo_says_its_state_files_are_temporary() -> None:
    result = run("demo")
    assert result.code == 0, result.err
    saved = _saved(result.out)
    directories = {Path(m["path"]).parent for m in saved}
    assert len(directories) == 1
    (directory,) = directories
    for match in saved:
        assert Path(match["path"]).is_absolute()
        assert match["fate"] == "temporary: removed when the demo ends"
        assert not Path(match["path"]).exists()  # as it said
    assert f"removed {directory} (keep the state files with --save-dir DIR)" in result.out
    assert f"restore -> Running (from {saved[1]['path']})" in result.out


# ---------------------------------------------------------------- Ctrl-C without a receiver


def test_a_posted_sigint_handler_delivers_each_ctrl_c_to_the_loop() -> None:
    """The Windows asyncio path (no add_signal_handler there), run on every platform.

    The handler is installed for the block only, and each Ctrl-C is an event, none a
    KeyboardInterrupt.
    """
    before = signal.getsignal(signal.SIGINT)

    async def main() -> int:
        got = 0
        with _posted_interrupts() as events:
            assert signal.getsignal(signal.SIGINT) is not before
            signal.raise_signal(signal.SIGINT)
            signal.raise_signal(signal.SIGINT)
            with anyio.fail_after(10):
                async for _ in events:
                    got += 1
                    if got == 2:
                        break
        return got

    assert anyio.run(main, backend="asyncio") == 2
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.parametrize(
    ("code", "windows", "posix"),
    [
        (0, 0, 0),
        (3, 3, 3),
        (255, 255, 255),
        (256, 256, 255),  # (never 0 on POSIX: 256 & 0xFF would read as success)
        (1067, 1067, 137),  # a Windows guest terminated
        (0xC000013A, 0xC000013A - 2**32, 130),  # a Windows guest's Ctrl-C exit
        (0xFFFFFFFF, -1, 255),
        (-1, -1, 255),
    ],
)
def test_exit_status_fits_the_host(
    monkeypatch: pytest.MonkeyPatch, code: int, windows: int, posix: int
) -> None:
    """sys.exit takes a C long (32 bits signed on Windows); POSIX has 8 bits."""
    from aiohcs.cli import exit_status

    monkeypatch.setattr(sys, "platform", "win32")
    assert exit_status(code) == windows
    monkeypatch.setattr(sys, "platform", "linux")
    assert exit_status(code) == posix
