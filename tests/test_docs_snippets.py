"""The code shown in the documentation runs and does what the text says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import aiohcs

DOCS = Path(__file__).resolve().parent.parent / "docs"
TIMEOUT = 120


def _env() -> dict[str, str]:
    """The environment of a child that imports the same aiohcs as this test run."""
    root = str(Path(aiohcs.__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}


def python_blocks(page: str) -> list[str]:
    """The ```python blocks of a docs page, in order."""
    text = (DOCS / page).read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_testing_guide_module_passes_under_pytest(tmp_path: Path) -> None:
    (block,) = [b for b in python_blocks("guides/testing-with-hcsim.md") if "def test_" in b]
    module = tmp_path / "test_from_docs.py"
    module.write_text(block)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(module)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_quickstart_program_runs(tmp_path: Path) -> None:
    block = python_blocks("quickstart.md")[0]
    script = tmp_path / "quickstart.py"
    script.write_text(block)
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Running"
    assert "'ExitType': 'ForcedExit'" in lines[1]


def test_cli_page_lists_every_command() -> None:
    from aiohcs.cli import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    assert sub.choices is not None
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    missing = [name for name in sub.choices if f"`aiohcs {name}" not in text]
    assert not missing
