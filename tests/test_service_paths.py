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

from aiohcs import _hcsim_client as client
from aiohcs import _hcsim_service as service
from aiohcs import testing
from aiohcs._hresult import HResult
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


# ---------------------------------------------------------------- review findings (#15)


@pytest.mark.in_process_only("a client process cannot serve")
@pytest.mark.parametrize("kind", ["file", "folder", "symlink"])
def test_serve_refuses_a_non_socket_and_leaves_it(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "s.sock"
    if kind == "file":
        path.write_text("mine")
    elif kind == "folder":
        path.mkdir()
    else:
        path.symlink_to(tmp_path / "target")
    code, out, err = run("hcsim", "serve", "--socket", str(path))
    assert (code, out) == (1, "")
    (line,) = err.splitlines()
    assert line.endswith(
        f"{path} exists and is not a socket; it is not removed: choose another path or remove it"
    )
    assert os.path.lexists(path)
    assert not os.path.lexists(f"{path}.lock")
    assert not os.path.lexists(tmp_path / "target")


@pytest.mark.in_process_only("a client process cannot serve")
def test_serve_does_not_follow_a_symlinked_lock_file(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    Path(f"{path}.lock").symlink_to(tmp_path / "victim")
    code, _, err = run("hcsim", "serve", "--socket", str(path))
    assert code == 1
    assert "lock file" in err
    assert "is a symlink or not a regular file" in err
    assert not os.path.lexists(tmp_path / "victim")


def test_a_client_of_a_non_socket_is_told_so(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    path.write_text("mine")
    error = client.unavailable(str(path), int(HResult.ERROR_FILE_EXISTS), origin=" (AIOHCS_HCSIM)")
    assert "(AIOHCS_HCSIM): it exists and is not a socket" in str(error)
    assert "start one" not in str(error)
    code, _, err = run("hcsim", "status", "--socket", str(path))
    assert code == 1
    assert "it exists and is not a socket" in err
    assert "no service is running" not in err


def test_access_denied_says_whose_service_it_is() -> None:
    error = client.unavailable("/s.sock", int(HResult.E_ACCESSDENIED))
    assert "belongs to another user or group" in str(error)
    assert "aiohcs hcsim status" not in str(error)


def test_a_too_long_aiohcs_hcsim_is_the_import_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Control:
        def HcsimConnect(self, path: bytes) -> int:
            raise AssertionError("not called")

    long_path = str(tmp_path / ("y" * 120))
    monkeypatch.setenv(service.ENV, long_path)
    monkeypatch.setattr(client, "auto_connect", True)
    monkeypatch.setattr(client, "_connected", None)
    with pytest.raises(HcsimServiceUnavailable, match="must be shorter than") as caught:
        client.connect_from_environment(Control())
    assert isinstance(caught.value, ImportError)
