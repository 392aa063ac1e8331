"""``aiohcs layer ...``, run in-process through ``main(argv)``.

Layers live in folders, so on hcsim they outlive each invocation even without a service.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import cli_fails as fails
from helpers import cli_json as ok_json
from helpers import cli_ok as ok

BASE_ID = "6f9e5d1c-2b1a-4c3d-8e7f-0a1b2c3d4e5f"


@pytest.fixture
def src(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A layer folder in transport format; the working directory is ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "src" / "Files").mkdir(parents=True)
    (tmp_path / "src" / "Files" / "a.txt").write_text("a")
    return tmp_path / "src"


def test_a_layer_from_import_to_destroy(src: Path, tmp_path: Path) -> None:
    base, w, out = tmp_path / "base", tmp_path / "w", tmp_path / "out"
    assert ok("layer", "import", "src", "base") == f"{base}  imported  (from {src})\n"
    assert (base / "Files" / "a.txt").read_text() == "a"
    parent = f"{BASE_ID}=base"
    assert ok_json("layer", "init-writable", "w", "--parent", parent) == {
        "Action": "init-writable",
        "Layer": str(w),
        "Parents": [{"Id": BASE_ID, "Path": str(base)}],
    }
    assert ok("layer", "attach", str(w), "--parent", parent) == f"{w}  filter attached\n"
    assert ok("layer", "detach", "w") == f"{w}  filter detached\n"
    doc = ok_json("layer", "export", "w", "out", "--writable", "--parent", parent)
    assert doc["Destination"] == str(out)
    assert (out / "Files").is_dir() or out.is_dir()
    assert ok("layer", "destroy", "w") == f"{w}  destroyed\n"
    assert ok_json("layer", "destroy", "base") == {"Action": "destroy", "Layer": str(base)}
    assert not base.exists()
    assert not w.exists()


def test_overlay_filters(src: Path, tmp_path: Path) -> None:
    ok("layer", "import", "src", "base")
    parent = f"{BASE_ID}=base"
    ok("layer", "init-writable", "w", "--parent", parent)
    w = tmp_path / "w"
    out = ok("layer", "attach", "w", "--parent", parent, "--overlay", "UnionFS")
    assert out == f"{w}  UnionFS overlay attached\n"
    assert ok_json("layer", "detach", "w", "--overlay", "UnionFS") == {
        "Action": "detach",
        "Layer": str(w),
        "Overlay": "UnionFS",
    }
    assert "ERROR_NOT_FOUND" in fails("layer", "detach", "w", "--overlay", "UnionFS")


def test_failures_of_hcs_are_one_line_errors(src: Path, tmp_path: Path) -> None:
    ok("layer", "import", "src", "base")
    err = fails("layer", "import", "src", "base")
    assert err.startswith("aiohcs: error: ERROR_ALREADY_EXISTS (0x800700B7) in ImportLayer:")
    assert err.count("\n") == 1
    assert "HCS_E_INVALID_LAYER" in fails("layer", "destroy", "src")
    assert (src / "Files" / "a.txt").exists()
    ok("layer", "init-writable", "w", "--parent", f"{BASE_ID}=base")
    assert "ERROR_NOT_FOUND" in fails("layer", "detach", "w")
    assert "ERROR_PATH_NOT_FOUND" in fails("layer", "destroy", "nowhere")


@pytest.mark.parametrize("action", ["init-writable", "attach"])
def test_a_writable_layer_needs_a_parent(
    src: Path, action: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fails("layer", action, "w", code=2)  # a usage error: argparse's usage line on stderr
    err = capsys.readouterr().err
    assert err.startswith(f"usage: aiohcs layer {action} ")
    assert "the following arguments are required: --parent" in err


@pytest.mark.parametrize(
    ("parent", "message"),
    [
        ("base", "expected ID=PATH"),
        (f"{BASE_ID}=", "expected ID=PATH"),
        ("not-a-guid=base", "is not a GUID"),
    ],
)
def test_a_bad_parent_is_a_usage_error(
    src: Path, capsys: pytest.CaptureFixture[str], parent: str, message: str
) -> None:
    # (argparse writes usage errors to sys.stderr itself.)
    fails("layer", "import", "src", "x", "--parent", parent, code=2)
    assert message in capsys.readouterr().err
    assert not Path("x").exists()


def test_an_unknown_overlay_is_a_usage_error(src: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fails("layer", "detach", "w", "--overlay", "NTFS", code=2)
    assert "invalid choice" in capsys.readouterr().err


def test_layer_commands_run_in_a_script(src: Path, tmp_path: Path) -> None:
    script = tmp_path / "layers.txt"
    script.write_text(
        f"layer import src base\nlayer init-writable w --parent {BASE_ID}=base\n"
        "layer destroy w\nlayer destroy base\n"
    )
    out = ok("script", str(script))
    assert out.splitlines()[-1] == f"{tmp_path / 'base'}  destroyed"


def test_disk_actions_format_mount_path_and_setup_base(
    src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    disk = tmp_path / "scratch.vhdx"
    ok("vhd", "create", "scratch.vhdx", "--size", "64M")
    err = fails("layer", "mount-path", "scratch.vhdx")
    assert "ERROR_INVALID_DATA" in err  # not formatted yet
    assert ok("layer", "format", "scratch.vhdx") == (
        f"{disk}  formatted as a writable layer volume\n"
    )
    mount = ok("layer", "mount-path", "scratch.vhdx").strip()
    assert mount.startswith("\\\\?\\Volume{")
    assert mount.endswith("}\\")
    assert ok_json("layer", "mount-path", "scratch.vhdx") == {
        "Action": "mount-path",
        "Disk": str(disk),
        "MountPath": mount,
    }
    ok("layer", "import", "src", "base")
    base = tmp_path / "base"
    assert ok("layer", "setup-base", "base", "--vhd", "scratch.vhdx", "--type", "Vm") == (
        f"{base}  set up as a base OS layer (Vm, disk {disk})\n"
    )
    assert ok_json("layer", "setup-base", "base", "--vhd", "scratch.vhdx") == {
        "Action": "setup-base",
        "Layer": str(base),
        "Disk": str(disk),
        "Type": "Container",
    }
    assert "ERROR_FILE_NOT_FOUND" in fails("layer", "format", "missing.vhdx")
    fails("layer", "setup-base", "base", code=2)
    assert "--vhd" in capsys.readouterr().err
