"""pytest plugin for testing HCS code on hcsim (opt-in).

Enable it with ``pytest -p aiohcs.testing.pytest_plugin``, ``addopts = ["-p",
"aiohcs.testing.pytest_plugin"]`` in your pytest configuration, or
``pytest_plugins = ["aiohcs.testing.pytest_plugin"]`` in your top-level ``conftest.py``.

It is opt-in (no ``pytest11`` entry point) because hcsim is process-global: the fixture
resets the emulator, terminating every compute system and process of the test process,
which no test suite should get just because aiohcs is installed.

Provides:

* the ``hcsim`` fixture: resets hcsim, yields a :class:`~aiohcs.testing.HcsimControl`,
  and afterwards fails the test if it left hcsim objects alive (after giving
  asynchronous clean-up up to :data:`SETTLE_SECONDS`, or the ``hcsim_settle`` ini
  option), then resets again. A test whose
  body already failed is not reported a second time for its leaks. On a build without
  hcsim (Windows) the fixture skips the test.
* the ``hcsim_leaves_systems`` marker: the test may leave compute systems behind (handles,
  operations, processes, pipes and documents are still checked).
* the ``hcsim_latency(profile)`` marker: a test that uses the ``hcsim`` fixture runs on
  that latency profile (``"realistic"`` or ``"instant"``, see
  :func:`~aiohcs.testing.set_latency_profile`) whatever the environment
  (``HCSIM_LATENCY``) chose for the others.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Final

import pytest

from aiohcs.errors import InvalidArgumentError
from aiohcs.testing._control import (
    LeakError,
    assert_no_leaks,
    counts,
    is_available,
    reset,
)
from aiohcs.testing._hcsim_control import HcsimControl
from aiohcs.testing._latency import set_latency_profile

__all__ = ["LATENCY_MARKER", "MARKER", "SETTLE_INI", "SETTLE_SECONDS", "hcsim"]

#: The marker for tests that deliberately leave compute systems behind.
MARKER: Final = "hcsim_leaves_systems"
#: The marker that runs a test on a given latency profile: ``hcsim_latency("realistic")``.
LATENCY_MARKER: Final = "hcsim_latency"
#: Seconds the leak check waits for asynchronous clean-up (process reaping, ...) unless
#: the ini option ``hcsim_settle`` says otherwise.
SETTLE_SECONDS: Final = 5.0
SETTLE_INI: Final = "hcsim_settle"

_BODY_FAILED = pytest.StashKey[bool]()
_SETTLE = pytest.StashKey[float]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``hcsim_settle`` ini option."""
    parser.addini(
        SETTLE_INI,
        f"seconds the hcsim fixture waits for clean-up before reporting leaks "
        f"(default {SETTLE_SECONDS})",
        default=str(SETTLE_SECONDS),
    )


def _settle(config: pytest.Config) -> float:
    value = str(config.getini(SETTLE_INI))
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise pytest.UsageError(f"{SETTLE_INI} must be a number of seconds >= 0, not {value!r}")
    return seconds


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker; check the ini option."""
    config.stash[_SETTLE] = _settle(config)
    config.addinivalue_line(
        "markers",
        f"{MARKER}: the test deliberately leaves compute systems behind in hcsim "
        "(the hcsim fixture still checks every other kind of object)",
    )
    config.addinivalue_line(
        "markers",
        f"{LATENCY_MARKER}(profile): the test runs on hcsim's latency profile 'realistic' or "
        "'instant' (the hcsim fixture sets it after its reset)",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember whether the test body failed (its leaks are then not reported twice)."""
    report = yield
    xfailed = report.skipped and hasattr(report, "wasxfail")
    if report.when == "call" and (report.failed or xfailed):
        item.stash[_BODY_FAILED] = True
    return report


@pytest.fixture
def hcsim(request: pytest.FixtureRequest) -> Iterator[HcsimControl]:
    """A freshly reset hcsim; the test fails if it leaves hcsim objects alive."""
    if not is_available():
        pytest.skip("needs the hcsim emulator build of aiohcs")
    reset()
    latency = request.node.get_closest_marker(LATENCY_MARKER)
    if latency is not None:
        if len(latency.args) != 1 or latency.kwargs:
            raise InvalidArgumentError(
                f"@pytest.mark.{LATENCY_MARKER} takes one profile name, e.g. "
                f'{LATENCY_MARKER}("realistic"); got args={latency.args!r} '
                f"kwargs={latency.kwargs!r}"
            )
        set_latency_profile(latency.args[0])
    # Handles an earlier test leaked survive the reset (they are the caller's): not ours.
    baseline = counts()
    yield HcsimControl()
    leaks: dict[str, int] = {}
    try:
        if not request.node.stash.get(_BODY_FAILED, False):
            allow_systems = request.node.get_closest_marker(MARKER) is not None
            settle = request.config.stash.get(_SETTLE, SETTLE_SECONDS)
            assert_no_leaks(allow_systems=allow_systems, settle=settle, baseline=baseline)
    except LeakError as exc:
        leaks = exc.leaks
    finally:
        reset()
    if leaks:
        pytest.fail(f"test left hcsim objects behind: {leaks}", pytrace=False)
