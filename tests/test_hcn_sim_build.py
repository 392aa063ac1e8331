"""The POSIX build compiles hcsim's computenetwork: every export of computenetwork.cdef exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aiohcs import _hcs

CDEF = Path(__file__).resolve().parents[1] / "aiohcs" / "include" / "computenetwork.cdef"
NAMES = re.findall(r"^\w+ WINAPI (Hcn\w+) \(", CDEF.read_text(encoding="utf-8"), re.MULTILINE)

pytestmark = pytest.mark.skipif(not hasattr(_hcs.lib, "HcsimReset"), reason="hcsim build only")


def test_every_export_is_built() -> None:
    assert len(NAMES) == 43
    missing = [n for n in NAMES if not hasattr(_hcs.lib, n)]
    assert missing == []
    assert hasattr(_hcs.lib, "CoTaskMemFree")
