"""The README's set-up commands are the ones CI runs."""

from __future__ import annotations

import re

import pytest
from helpers import REPO


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Set-up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section)


def test_readme_names_exactly_two_commands() -> None:
    commands = _readme_commands()
    assert len(commands) == 2
    assert commands[0].endswith("python -m aiohcs demo")
    assert commands[1].endswith("python -m pytest")
    assert all("pip install -e" in c for c in commands)


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci = REPO / ".ci" / "run"
    if not ci.exists():
        pytest.skip("not a git checkout (an sdist has no .ci/run)")
    lines = ci.read_text(encoding="utf-8").splitlines()
    assert _readme_commands()[1] in lines
