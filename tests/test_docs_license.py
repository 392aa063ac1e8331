"""The licence: a LICENSE file, and the package metadata that names it."""

from __future__ import annotations

import re

from helpers import REPO


def test_license_file_is_mit_with_the_copyright_line() -> None:
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 the aiohcs authors" in text
    assert "Permission is hereby granted, free of charge" in text


def test_pyproject_declares_the_license() -> None:
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    project = text.split("[project]", 1)[1].split("\n[", 1)[0]
    assert re.search(r'^license = "MIT"$', project, re.MULTILINE)
    assert re.search(r'^license-files = \["LICENSE"\]$', project, re.MULTILINE)
    # PEP 639 metadata needs setuptools 77 or later as the build backend.
    assert re.search(r'"setuptools>=(7[7-9]|[89]\d)', text)


def test_sdist_manifest_carries_the_license_and_the_test_fixtures() -> None:
    manifest = (REPO / "MANIFEST.in").read_text(encoding="utf-8")
    assert re.search(r"^include .*\bLICENSE\b", manifest, re.MULTILINE)
    assert "recursive-include tests/fixtures *.json" in manifest
