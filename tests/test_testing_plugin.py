"""aiohcs.testing.pytest_plugin: inner pytest runs (pytester) that leak, fail and pass."""

from __future__ import annotations

import pytest

import aiohcs
import aiohcs.system  # imported before pytester snapshots sys.modules
from aiohcs import _native, testing
from aiohcs.testing import pytest_plugin

pytest_plugins = ["pytester"]

PLUGIN = ("-p", "aiohcs.testing.pytest_plugin")
# Inner runs need no installed plugin (pytest-asyncio would warn about its unset options)
# and no cache; see the autouse fixture below.
QUIET = ("-p", "no:cacheprovider")
FAST = ("-o", "hcsim_settle=0.3")  # leak checks give up sooner than the default 5 s
HEADER = """
import threading
import anyio
import pytest
from aiohcs import _native, testing
from aiohcs.system import ComputeSystem

CONFIG = {"SchemaVersion": {"Major": 2, "Minor": 1}, "Container": {}}


async def leave_a_system(name):
    async with await ComputeSystem.create(name, CONFIG):
        pass  # the handle is closed, the system goes on
"""


@pytest.fixture(autouse=True)
def _no_plugin_autoload(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


def run(pytester: pytest.Pytester, body: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_inner=HEADER + body)
    return pytester.runpytest(*PLUGIN, *QUIET, *FAST, *args)


def test_a_leaking_test_fails(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
def test_leaks(hcsim):
    anyio.run(leave_a_system, "leak")
""",
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*ERROR at teardown of test_leaks*", "*test left hcsim objects behind: {'systems': 1}*"]
    )
    assert testing.counts().systems == 0  # the plugin reset hcsim after the leak


def test_the_marker_allows_systems_but_nothing_else(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
@pytest.mark.hcsim_leaves_systems
def test_systems_allowed(hcsim):
    anyio.run(leave_a_system, "kept")
    assert hcsim.counts().systems == 1

@pytest.mark.hcsim_leaves_systems
def test_handles_still_checked(hcsim, tmp_path_factory):
    op = _native.lib.HcsCreateOperation(_native.NULL, _native.NULL)
    (tmp_path_factory.getbasetemp() / "op").write_text(str(int(_native.ffi.cast("uintptr_t", op))))
""",
        "--strict-markers",
    )
    # A reset cannot take handles from their owner: close the leaked operation here.
    handle = int((pytester.path.parent / "basetemp" / "op").read_text())
    _native.lib.HcsCloseOperation(_native.ffi.cast("HCS_OPERATION", handle))
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*test left hcsim objects behind: {'operations': 1}*"])
    assert "test_systems_allowed" not in result.stdout.str().split("short test summary")[1]
    assert testing.counts() == testing.Counts(0, 0, 0, 0, 0, 0, 0, 0)  # reset afterwards


def test_a_failing_body_is_not_reported_twice(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
def test_fails_and_leaks(hcsim):
    anyio.run(leave_a_system, "both")
    assert False, "the body failed"

@pytest.mark.xfail(strict=True)
def test_xfails_and_leaks(hcsim):
    anyio.run(leave_a_system, "xfail")
    assert False
""",
    )
    result.assert_outcomes(failed=1, xfailed=1, errors=0)
    assert "objects behind" not in result.stdout.str()
    assert testing.counts().systems == 0


def test_the_fixture_resets_first_and_yields_the_control_object(
    pytester: pytest.Pytester,
) -> None:
    testing.fail_next("*", aiohcs.AccessDenied, count=100)
    testing.delay("HcsGetServiceProperties", completion_ms=2000)
    result = run(
        pytester,
        """
from aiohcs.service import service_properties

async def properties_quickly():
    with anyio.fail_after(1):
        await service_properties()

def test_clean(hcsim):
    assert isinstance(hcsim, testing.HcsimControl)
    anyio.run(properties_quickly)  # no fault and no delay left from before
""",
    )
    result.assert_outcomes(passed=1)


def test_clean_up_gets_time_to_settle(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
import time

def test_late_close(hcsim):
    op = _native.lib.HcsCreateOperation(_native.NULL, _native.NULL)
    threading.Timer(0.3, _native.lib.HcsCloseOperation, (op,)).start()
    test_late_close.ended = time.monotonic()

def test_after():
    assert time.monotonic() - test_late_close.ended >= 0.25
""",
        "-o",
        "hcsim_settle=10",
    )
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize("value", ["soon", "-1", "nan"])
def test_a_bad_settle_option_is_a_usage_error(pytester: pytest.Pytester, value: str) -> None:
    result = run(pytester, "def test_x(hcsim):\n    pass\n", "-o", f"hcsim_settle={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*hcsim_settle must be a number of seconds >= 0, not '{value}'*"])


def test_without_hcsim_the_fixture_skips(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
import pytest
from aiohcs import _native

@pytest.fixture(autouse=True)
def windows_build(monkeypatch):
    monkeypatch.setattr(_native, "IS_EMULATOR", False)
"""
    )
    result = run(pytester, "def test_needs_hcsim(hcsim):\n    pass\n", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*needs the hcsim emulator build of aiohcs*"])


def test_the_plugin_is_opt_in(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner="def test_x(hcsim):\n    pass\n")
    result = pytester.runpytest(*QUIET)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'hcsim' not found*"])


def test_the_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(*PLUGIN, *QUIET, "--markers")
    result.stdout.fnmatch_lines([f"@pytest.mark.{pytest_plugin.MARKER}:*"])


def test_the_latency_marker_needs_one_profile_name(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
@pytest.mark.hcsim_latency()
def test_no_name(hcsim):
    pass

@pytest.mark.hcsim_latency("Realistic")
def test_any_case(hcsim):
    assert testing.latency_profile() == "realistic"
""",
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*InvalidArgumentError*hcsim_latency takes one profile name*"])
