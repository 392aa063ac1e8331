"""hcsim's service mode without a service: socket paths, the ``hcsim`` commands' checks, errors.

Everything here is decided in Python before any C call: the default socket, the checks of
its folder, a path too long for a Unix socket, the parser of ``aiohcs hcsim``, and what the
tool says when it runs its own, empty emulator.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from aiohcs import _hcsim_service as service
from aiohcs import testing
from aiohcs.cli import build_parser, main, parse_command
from aiohcs.cli._service import NO_SERVICE_HINT, use_service
from aiohcs.errors import (
    HcsimServiceError,
    HcsimServiceUnavailable,
    HcsimSocketPathError,
    HcsNotAvailableError,
)

pytestmark = pytest.mark.posix_only("Unix sockets and per-user runtime folders")


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


# ---------------------------------------------------------------- the default socket


def test_default_socket_is_under_xdg_runtime_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    path = service.default_socket_path(create=True)
    assert path == str(tmp_path / "aiohcs" / "hcsim.sock")
    assert stat.S_IMODE(os.stat(tmp_path / "aiohcs").st_mode) == 0o700


def test_default_socket_without_xdg_is_per_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    assert service.default_socket_path() == f"/tmp/aiohcs-{os.getuid()}/hcsim.sock"


def test_default_socket_ignores_a_relative_xdg_runtime_dir(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", "relative/dir")
    assert service.default_socket_path().startswith(f"/tmp/aiohcs-{os.getuid()}/")


def test_a_folder_open_to_others_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    (tmp_path / "aiohcs").mkdir(mode=0o755)
    (tmp_path / "aiohcs").chmod(0o755)
    with pytest.raises(HcsimSocketPathError, match="open to other users"):
        service.default_socket_path(create=True)


def test_a_symlinked_folder_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    (tmp_path / "aiohcs").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(HcsimSocketPathError, match="symlink"):
        service.default_socket_path()


def test_a_file_in_place_of_the_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    (tmp_path / "aiohcs").write_text("")
    with pytest.raises(HcsimSocketPathError, match="not a folder"):
        service.default_socket_path()


# ---------------------------------------------------------------- socket paths


def test_a_path_too_long_for_a_unix_socket_is_a_typed_error(tmp_path: Path) -> None:
    path = str(tmp_path / ("x" * 120) / "hcsim.sock")
    with pytest.raises(HcsimSocketPathError, match="shorter than") as info:
        service.check_socket_path(path)
    assert info.value.socket == path
    assert isinstance(info.value, ValueError)


def test_a_relative_path_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert service.check_socket_path("s.sock") == str(tmp_path / "s.sock")


def test_an_empty_path_is_refused() -> None:
    with pytest.raises(HcsimSocketPathError):
        service.check_socket_path("")


def test_the_unavailable_error_is_an_import_error() -> None:
    error = HcsimServiceUnavailable("x", socket="/s", hresult=0x80370114)
    assert isinstance(error, HcsNotAvailableError)
    assert isinstance(error, HcsimServiceError)
    assert error.socket == "/s"
    assert error.hresult == 0x80370114


# ---------------------------------------------------------------- the hcsim commands


@pytest.mark.parametrize("action", ["serve", "status", "stop"])
def test_hcsim_commands_parse(action: str) -> None:
    args = parse_command(build_parser(), ["hcsim", action, "--socket", "/x.sock"])
    assert (args.command, args.hcsim_command, args.socket) == ("hcsim", action, "/x.sock")


def test_hcsim_needs_an_action() -> None:
    code, _, _ = run("hcsim")
    assert code == 2


@pytest.mark.parametrize("action", ["serve", "status", "stop"])
def test_a_long_socket_path_is_one_line_and_exit_1(tmp_path: Path, action: str) -> None:
    code, out, err = run("hcsim", action, "--socket", str(tmp_path / ("y" * 120)))
    assert code == 1
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith("aiohcs: error: the hcsim socket path")


def test_serve_with_an_unknown_group_is_one_line(tmp_path: Path) -> None:
    code, _, err = run("hcsim", "serve", "--socket", str(tmp_path / "s"), "--group", "no-such-g")
    assert code == 1
    assert err.strip() == "aiohcs: error: --group: no group named 'no-such-g'"


def test_status_socket_defaults_to_aiohcs_hcsim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiohcs.cli._hcsim import socket_for

    monkeypatch.setenv(service.ENV, str(tmp_path / "env.sock"))
    args = parse_command(build_parser(), ["hcsim", "status"])
    assert socket_for(args) == str(tmp_path / "env.sock")
    monkeypatch.setenv(service.ENV, "")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert socket_for(args) == str(tmp_path / "aiohcs" / "hcsim.sock")


def test_hcsim_cannot_run_in_a_script(tmp_path: Path) -> None:
    path = tmp_path / "s.txt"
    path.write_text("hcsim status\n")
    code, _, err = run("script", str(path))
    assert code == 2
    assert "cannot run in a script" in err


# ---------------------------------------------------------------- the tool without a service


@pytest.mark.in_process_only("checks that the test process is not a client")
def test_empty_aiohcs_hcsim_keeps_the_tool_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(service.ENV, "")
    assert use_service() is None
    assert testing.service_socket() is None


def test_no_socket_at_the_default_path_is_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(service.ENV)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert use_service() is None
    (tmp_path / "aiohcs").mkdir(mode=0o700)
    (tmp_path / "aiohcs" / "hcsim.sock").write_text("not a socket")
    assert use_service() is None


@pytest.mark.in_process_only("the hint is for a tool running its own hcsim")
def test_an_unknown_system_says_how_to_start_a_service() -> None:
    code, _, err = run("kill", "ghost")
    assert code == 1
    (line,) = err.splitlines()
    assert line.startswith("aiohcs: error: HCS_E_SYSTEM_NOT_FOUND (0x8037010E)")
    assert line.endswith(NO_SERVICE_HINT)


def test_help_names_the_service() -> None:
    assert "aiohcs hcsim serve" in " ".join(build_parser().format_help().split())
