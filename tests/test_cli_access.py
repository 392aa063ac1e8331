"""``aiohcs grant``, ``aiohcs revoke`` and ``aiohcs state-file``, run in-process.

Multi-step scenarios run as ``aiohcs script`` (on hcsim each invocation starts with an
empty emulator, grants included).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import helpers
import pytest
from helpers import cli as run
from helpers import owned_by


def script(tmp_path: Path, text: str) -> tuple[int, str, str]:
    path = tmp_path / "script.txt"
    path.write_text(text)
    return run("script", str(path))


def documents(text: str) -> list[Any]:
    decoder, docs, pos = json.JSONDecoder(), [], 0
    while pos < len(text):
        if text[pos] in "[{":
            doc, pos = decoder.raw_decode(text, pos)
            docs.append(doc)
        else:
            end = text.find("\n", pos)
            pos = len(text) if end < 0 else end + 1
    return docs


def _vm_with_disk(tmp_path: Path) -> tuple[Path, Path]:
    disk = tmp_path / "disk.vhdx"
    disk.write_bytes(b"")
    vm = owned_by(helpers.VM, "cli-test")
    devices = {"Scsi": {"0": {"Attachments": {"0": {"Path": str(disk)}}}}}
    vm["VirtualMachine"] = {**vm["VirtualMachine"], "Devices": devices}
    config = tmp_path / "vm.json"
    config.write_text(json.dumps(vm))
    return disk, config


@pytest.mark.hcsim_leaves_systems  # the create succeeded; the start failed
def test_a_start_without_the_grant_fails_naming_the_disk(tmp_path: Path) -> None:
    disk, config = _vm_with_disk(tmp_path)
    code, _, err = run("create", "vm1", str(config), "--start")
    assert code == 1
    assert "aiohcs: error:" in err
    assert str(disk) in err
    assert "E_ACCESSDENIED" in err or "Access is denied" in err


def test_grant_then_start_then_revoke_json(tmp_path: Path) -> None:
    disk, config = _vm_with_disk(tmp_path)
    code, out, err = script(
        tmp_path,
        f"grant vm1 {disk} --json\n"
        f"create vm1 {config} --start --json\n"
        f"revoke vm1 {disk} --json\n"
        "kill vm1\n",
    )
    assert code == 0, err
    granted, created, revoked = documents(out)[:3]
    assert granted == {"Access": "Granted", "VmId": "vm1", "Path": str(disk)}
    assert created["State"] == "Running"
    assert revoked == {"Access": "Revoked", "VmId": "vm1", "Path": str(disk)}


@pytest.mark.in_process_only("the note is for the tool's own emulator, without a service")
def test_a_grant_without_a_service_says_it_ends_with_the_command(tmp_path: Path) -> None:
    disk, config = _vm_with_disk(tmp_path)
    for argv in (("grant", "vm1", str(disk)), ("revoke", "--group", str(disk), "--json")):
        code, out, err = run(*argv)
        assert code == 0, err
        assert out
        assert f"so this {argv[0]} ends with it" in err
        assert "aiohcs hcsim serve" in err
        assert "aiohcs script" in err
    # In a script the grant stays for the next lines (the start succeeds): no note there.
    code, _, err = script(tmp_path, f"grant vm1 {disk}\ncreate vm1 {config} --start\nkill vm1\n")
    assert code == 0, err
    assert "ends with it" not in err


def test_group_grant_text_and_relative_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk, config = _vm_with_disk(tmp_path)
    monkeypatch.chdir(tmp_path)
    code, out, err = script(
        tmp_path,
        f"grant --group {disk.name}\ncreate any {config} --start\nkill any\n"
        f"revoke --group {disk.name}\n",
    )
    assert code == 0, err
    assert f"granted: every VM -> {disk}" in out
    assert f"revoked: every VM -> {disk}" in out


def test_state_file_create_and_processors(tmp_path: Path) -> None:
    vmgs, vmrs = tmp_path / "a.vmgs", tmp_path / "a.vmrs"
    code, out, err = run("state-file", "create", "--guest", str(vmgs), "--json")
    assert code == 0, err
    assert json.loads(out) == {"Created": str(vmgs), "Kind": "guest"}
    code, out, err = run("state-file", "create", "--runtime", str(vmrs))
    assert code == 0, err
    assert out.strip() == f"created runtime state file {vmrs}"
    assert vmgs.exists()
    assert vmrs.exists()
    code, _, err = run("state-file", "create", "--guest", str(vmgs))
    assert code == 1
    assert "ERROR_FILE_EXISTS" in err or "exists" in err
    config = tmp_path / "vm.json"
    config.write_text(json.dumps(owned_by(helpers.VM, "cli-test")))
    saved = tmp_path / "saved.vmrs"
    code, out, err = script(
        tmp_path,
        f"create vm1 {config} --start\nsave vm1 {saved} --pause\nkill vm1\n"
        f"state-file processors {saved} --json\n",
    )
    assert code == 0, err
    (requirements,) = [d for d in documents(out) if "ProcessorFeatures" in d]
    assert requirements["ProcessorCount"] == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("grant", "vm1"), "one of the arguments --group VM_ID is required"),
        (("grant", "x", "--json"), "one of the arguments --group VM_ID is required"),
        (("grant", "--group", "vm1", "x"), "argument VM_ID: not allowed with argument --group"),
        (("grant", "--group"), "the following arguments are required: PATH"),
        (("revoke", "a", "b", "c"), "unrecognized arguments: c"),
        (("layer", "init-writable", "X"), "the following arguments are required: --parent"),
        (("layer", "attach", "X"), "the following arguments are required: --parent"),
        (("vhd", "create", "x.vhdx", "--size", "2M"), "--size: must be a multiple of 512 from"),
        (("vhd", "create", "x.vhdx", "--size", "65T"), "--size: must be a multiple of 512 from"),
        (("vhd", "create", "x.vhdx", "--size", "3145729"), "--size: must be a multiple of 512"),
        (("vhd", "create", "x.vhdx", "--size", "-5"), "--size: expected a size"),
        (("vhd", "create", "x.vhdx", "--size", "8M", "--block-size", "3M"), "a power of two"),
        (("vhd", "create", "x.vhdx", "--size", "8M", "--block-size", "512M"), "a power of two"),
    ],
)
def test_wrong_operands_are_usage_errors(
    argv: tuple[str, ...],
    message: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The shape and range of the arguments, which the parser knows: exit 2, argparse's usage
    # line and one error line (as for an unknown option), nothing made.
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(*argv)
    assert (code, out) == (2, "")
    err = capsys.readouterr().err
    assert err.startswith("usage: aiohcs ")
    assert message in err.splitlines()[-1]
    assert not list(tmp_path.iterdir())


def test_the_cli_size_limits_are_the_sdk_s() -> None:
    from aiohcs import vhd
    from aiohcs.cli import _vhd

    assert _vhd._SIZES == (vhd.MIN_SIZE, vhd.MAX_SIZE)
    assert _vhd._BLOCKS == (vhd.MIN_BLOCK_SIZE, vhd.MAX_BLOCK_SIZE)


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    gone = tmp_path / "gone.vhdx"
    code, _, err = run("grant", "vm1", str(gone))
    assert code == 1
    assert err.count("\n") == 1
    assert "aiohcs: error:" in err
    assert f"({gone}, VM vm1)" in err  # the path and the VM, which HCS's error does not name
    code, _, err = run("state-file", "create", "--guest", str(tmp_path / "no" / "g.vmgs"))
    assert code == 1
    assert str(tmp_path / "no" / "g.vmgs") in err


def test_usage_errors_exit_2() -> None:
    assert run("state-file", "create", "x.vmgs")[0] == 2  # --guest or --runtime
    assert run("state-file", "create", "--guest", "--runtime", "x")[0] == 2
    assert run("grant")[0] == 2
