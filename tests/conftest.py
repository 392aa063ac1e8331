"""Shared fixtures.

* ``anyio_backend``: tests marked ``@pytest.mark.anyio`` run once on asyncio and once on trio.
* On the emulator build every test starts from a reset hcsim and must leave nothing behind:
  no operation, handle, process, pipe handle or unfreed document (and no compute system,
  unless the test is marked ``hcsim_leaves_systems``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

try:
    from aiohcs import _native
except ImportError:  # test_native.py reports a missing extension as a failure
    _native_or_none: Any = None
else:
    _native_or_none = _native

# Counters that must be back to zero when a test ends (HCSIM_COUNTS members).
LEAK_COUNTERS = (
    "Operations",
    "SystemHandles",
    "ProcessHandles",
    "Processes",
    "PipeHandles",
    "Documents",
)
# How long teardown waits for asynchronous clean-up (process reaping, ...) to settle.
SETTLE_SECONDS = 5.0


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every anyio test on both backends."""
    backend: str = request.param
    return backend


def read_hcsim_counts() -> dict[str, int]:
    """Return hcsim's live-object counters (emulator build only) as a dict."""
    assert _native_or_none is not None
    assert _native_or_none.IS_EMULATOR
    ffi, lib = _native_or_none.ffi, _native_or_none.lib
    counts = ffi.new("HCSIM_COUNTS *")
    lib.HcsimGetCounts(counts)
    return {name: int(getattr(counts, name)) for name, _ in ffi.typeof("HCSIM_COUNTS").fields}


@pytest.fixture
def hcsim_counts() -> Callable[[], dict[str, int]]:
    """A function returning hcsim's live-object counters now (emulator build only)."""
    if _native_or_none is None or not _native_or_none.IS_EMULATOR:
        pytest.skip("needs the hcsim build")
    return read_hcsim_counts


def _leaks(counters: tuple[str, ...]) -> dict[str, int]:
    counts = read_hcsim_counts()
    return {name: counts[name] for name in counters if counts[name]}


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Remember whether the test body failed (its leaks are then not reported twice)."""
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_CALL_FAILED] = True
    return report


def _reset() -> None:
    assert _native_or_none is not None
    hr = _native_or_none.lib.HcsimReset()
    assert hr == 0, f"HcsimReset failed: 0x{hr & 0xFFFFFFFF:08X}"


@pytest.fixture(autouse=True)
def _hcsim_clean(request: pytest.FixtureRequest) -> Iterator[None]:
    """Reset hcsim before each test; fail the test if it leaked emulator objects."""
    if _native_or_none is None or not _native_or_none.IS_EMULATOR:
        yield
        return
    _reset()
    yield
    if request.node.stash.get(_CALL_FAILED, False):
        _reset()
        return
    counters: tuple[str, ...] = LEAK_COUNTERS
    if request.node.get_closest_marker("hcsim_leaves_systems") is None:
        counters = (*counters, "Systems")
    deadline = time.monotonic() + SETTLE_SECONDS
    leaks = _leaks(counters)
    while leaks and time.monotonic() < deadline:
        time.sleep(0.01)
        leaks = _leaks(counters)
    if leaks:
        _reset()
    assert not leaks, f"test left hcsim objects behind: {leaks}"
