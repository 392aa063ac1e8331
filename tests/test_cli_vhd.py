"""``aiohcs vhd create|info``, run in-process through ``main(argv)``."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import cli as run
from helpers import cli_json as ok_json
from helpers import cli_ok as ok

from aiohcs.cli._vhd import parse_size


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_create_and_info(tmp_path: Path) -> None:
    disk = tmp_path / "a.vhdx"
    assert ok("vhd", "create", "a.vhdx", "--size", "10G") == f"{disk}  created (dynamic, 10 GiB)\n"
    assert disk.read_bytes()[:8] == b"vhdxfile"
    assert ok("vhd", "info", "a.vhdx").splitlines() == [
        f"Path: {disk}",
        "VirtualSize: 10737418240 (10 GiB)",
        f"FileSize: {disk.stat().st_size}",
        "Attached: no",
    ]
    assert ok_json("vhd", "info", str(disk)) == {
        "Path": str(disk),
        "VirtualSize": 10 << 30,
        "FileSize": disk.stat().st_size,
        "Attached": False,
        "PhysicalPath": None,
    }


def test_create_fixed_with_options_json(tmp_path: Path) -> None:
    report = ok_json(
        "vhd", "create", "f.vhdx", "--size", "64M", "--fixed", "--block-size", "2M",
        "--sector-size", "4096",
    )  # fmt: skip
    assert report == {
        "Action": "create",
        "Path": str(tmp_path / "f.vhdx"),
        "Type": "fixed",
        "VirtualSize": 64 << 20,
        "BlockSize": 2 << 20,
        "SectorSize": 4096,
    }
    assert (tmp_path / "f.vhdx").stat().st_size >= 64 << 20
    assert ok_json("vhd", "info", "f.vhdx")["VirtualSize"] == 64 << 20


def test_create_json_reports_the_default_block_size(tmp_path: Path) -> None:
    report = ok_json("vhd", "create", "d.vhdx", "--size", "16M")
    assert report["BlockSize"] == 32 << 20  # Windows' default, which the disk got


def test_create_refuses_another_format_name(tmp_path: Path) -> None:
    for name in ("x.vhd", "x.ISO"):
        code, out, err = run("vhd", "create", name, "--size", "16M")
        assert (code, out) == (1, "")
        assert "must name a .vhdx file" in err
        assert not (tmp_path / name).exists()


def test_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok("vhd", "create", "a.vhdx", "--size", "16M")
    code, out, err = run("vhd", "create", "a.vhdx", "--size", "16M")
    assert (code, out) == (1, "")
    assert "ERROR_FILE_EXISTS" in err
    assert "CreateVirtualDisk" in err
    code, out, err = run("vhd", "create", "b.vhdx", "--size", "16M", "--block-size", "3M")
    assert (code, out) == (2, "")  # (argparse's usage error)
    assert "--block-size: must be a power of two" in capsys.readouterr().err
    assert not (tmp_path / "b.vhdx").exists()
    code, out, err = run("vhd", "create", "b.vhdx", "--size", "1X")
    assert code == 2
    assert "expected a size" in err + capsys.readouterr().err  # (argparse's usage error)
    code, out, err = run("vhd", "info", "missing.vhdx")
    assert (code, out) == (1, "")
    assert "ERROR_FILE_NOT_FOUND" in err
    code, out, err = run("vhd", "create", "c.vhdx")
    assert code == 2
    assert "--size" in err + capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "value"),
    [("3145728", 3145728), ("10G", 10 << 30), ("512m", 512 << 20), ("1TiB", 1 << 40),
     ("4 K", 4096), ("2MB", 2 << 20)],
)  # fmt: skip
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value
