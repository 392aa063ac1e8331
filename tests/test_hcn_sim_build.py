"""hcsim's computenetwork: every function of computenetwork.cdef is one of hcsim's exports.

That the names link is test_native's (and the build's) business. Here each one is called:
with NULL/zero arguments it refuses them with an HRESULT instead of crashing, and hidden
with ``HcsimSetExportHidden`` it answers ``ERROR_PROC_NOT_FOUND``, so the call went
through hcsim's entry protocol (its table of exports knows the name).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aiohcs import _hcs

CDEF = Path(__file__).resolve().parents[1] / "aiohcs" / "include" / "computenetwork.cdef"
NAMES = re.findall(r"^(\w+) WINAPI (Hcn\w+) \(", CDEF.read_text(encoding="utf-8"), re.MULTILINE)

E_POINTER = 0x80004003
E_INVALIDARG = 0x80070057
E_HANDLE = 0x80070006
PROC_NOT_FOUND = 0x8007007F  # HRESULT_FROM_WIN32(ERROR_PROC_NOT_FOUND)

pytestmark = pytest.mark.skipif(not hasattr(_hcs.lib, "HcsimReset"), reason="hcsim build only")


def args_of(name: str, *, outs: bool) -> list[Any]:
    """The arguments of a call of name: 0 for numbers, NULL for pointers.

    With outs, every pointer to a pointer, number or struct (out parameters, GUIDs) points
    at zeroed memory instead.
    """
    ffi = _hcs.ffi
    args: list[Any] = []
    for t in ffi.typeof(getattr(_hcs.lib, name)).args:
        if t.kind not in ("pointer", "function"):
            args.append(0)
        elif outs and t.kind == "pointer" and t.item.kind in ("pointer", "struct", "primitive"):
            args.append(ffi.new(t))
        else:
            args.append(ffi.NULL)
    return args


def call(name: str, *, outs: bool = False) -> int:
    result = getattr(_hcs.lib, name)(*args_of(name, outs=outs))
    return int(_hcs.ffi.cast("uint32_t", result)) if result is not None else 0


@pytest.fixture
def unhidden(name: str) -> Iterator[None]:
    yield
    _hcs.lib.HcsimSetExportHidden(name.encode(), False)


def test_the_cdef_declares_computenetwork() -> None:
    assert len(NAMES) == 43
    assert [ret for ret, _ in NAMES].count("VOID") == 1  # HcnFreeGuestNetworkPortReservations


@pytest.mark.parametrize("name", [n for ret, n in NAMES if ret == "HRESULT"])
@pytest.mark.usefixtures("unhidden")
def test_refuses_null_arguments_and_hides(name: str) -> None:
    assert call(name) in (E_POINTER, E_INVALIDARG, E_HANDLE)
    assert _hcs.lib.HcsimIsExportAvailable(name.encode())
    assert _hcs.lib.HcsimSetExportHidden(name.encode(), True) == 0
    assert not _hcs.lib.HcsimIsExportAvailable(name.encode())
    # (out pointers given: a client refuses missing ones before it asks the service)
    assert call(name, outs=True) == PROC_NOT_FOUND


def test_free_of_null_is_nothing() -> None:
    _hcs.lib.HcnFreeGuestNetworkPortReservations(_hcs.ffi.NULL)
