"""Shared fixtures.

* ``anyio_backend``: tests marked ``@pytest.mark.anyio`` run once on asyncio and once on trio.
* On the emulator build every test runs under the ``hcsim`` fixture of aiohcs's own pytest
  plugin (:mod:`aiohcs.testing.pytest_plugin`): it starts from a reset hcsim and must leave
  nothing behind — no operation, handle, process, pipe handle or unfreed document, and no
  compute system unless the test is marked ``hcsim_leaves_systems``. Asynchronous clean-up
  gets the plugin's settle time; a test whose body failed is not reported again for leaks.
* ``vm``: a created (not started) VM ``"vm1"`` (``helpers.VM``), terminated and closed
  afterwards.
* ``linux``: a started Linux VM (``helpers.LINUX``), terminated and closed afterwards;
  ``windows`` the same for a Windows container (``helpers.WINDOWS``).
* ``engine``: each pipe engine in turn.
* hcsim runs on its "instant" latency profile (``HCSIM_LATENCY=instant``, set here for
  the whole run unless the environment names another profile);
  ``@pytest.mark.hcsim_latency("realistic")`` gives a test the default one.
* ``@pytest.mark.posix_only("reason")``: a test POSIX-only by nature (fork, signals, pty,
  descriptors, /proc...) is skipped on Windows (``linux=True``: everywhere but Linux); a
  Windows run ends by counting them, with their reasons.
* The suite against an hcsim service: ``AIOHCS_TEST_SERVICE=1`` starts one service for the
  session (``python -m aiohcs hcsim serve`` on a private socket) and sets ``AIOHCS_HCSIM``
  before aiohcs is imported, so the test process and every child it starts are clients.
  ``@pytest.mark.in_process_only("reason")`` skips a test then. Without it
  ``AIOHCS_HCSIM`` is set empty (in-process) unless the environment names a service.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

# First: it starts the session's service (if asked) before aiohcs's binding is imported,
# as the process connects to AIOHCS_HCSIM at that import.
from service_session import (
    CHILDREN_MAKE_SYSTEMS,
    IN_PROCESS_ONLY,
    IN_PROCESS_TESTS,
    lookup,
)

# isort: split
import anyio
import pytest
from helpers import LINUX, VM, WINDOWS, terminate_and_close

from aiohcs import testing
from aiohcs._pipes import ENGINES

if TYPE_CHECKING:
    from aiohcs.system import ComputeSystem

pytest_plugins = ["aiohcs.testing.pytest_plugin"]

# The suite runs on hcsim's "instant" latency profile unless the environment names
# another (HCSIM_LATENCY=realistic runs it on hcsim's default): hcsim reads the variable
# at its first call and at every reset (the hcsim fixture resets before each test), and
# subprocesses inherit it. Tests of the profiles choose theirs (hcsim_latency marker).
os.environ.setdefault(testing.LATENCY_ENV, "instant")

_POSIX_ONLY = "POSIX only: "
# The reasons of the tests skipped as POSIX-only in this run, with their counts.
_posix_only: Counter[str] = Counter()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "posix_only(reason, linux=False): POSIX-only by nature, skipped on Windows "
        "(linux=True: on every platform but Linux)",
    )
    config.addinivalue_line(
        "markers",
        "in_process_only(reason): needs hcsim in the test process, skipped against a service "
        "(AIOHCS_TEST_SERVICE=1 or AIOHCS_HCSIM)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("AIOHCS_HCSIM"):
        _against_a_service(items)
    for item in items:
        marker = item.get_closest_marker("posix_only")
        if marker is None:
            continue
        (reason,) = marker.args
        linux_only = marker.kwargs.get("linux", False)
        if sys.platform == "win32" or (linux_only and not sys.platform.startswith("linux")):
            item.add_marker(pytest.mark.skip(reason=f"{_POSIX_ONLY}{reason}"))


def _against_a_service(items: list[pytest.Item]) -> None:
    """The suite runs against a service: skip what needs hcsim in-process (and say so)."""
    for item in items:
        marker = item.get_closest_marker("in_process_only")
        reason = marker.args[0] if marker is not None else lookup(IN_PROCESS_TESTS, item.nodeid)
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=f"{IN_PROCESS_ONLY}{reason}"))
        if lookup(CHILDREN_MAKE_SYSTEMS, item.nodeid):
            item.add_marker(pytest.mark.hcsim_leaves_systems)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "setup" and report.skipped and isinstance(report.longrepr, tuple):
        _, _, message = report.longrepr
        _, found, reason = message.partition(_POSIX_ONLY)
        if found:
            _posix_only[reason] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if sys.platform == "win32" or _posix_only:
        total = sum(_posix_only.values())
        terminalreporter.write_sep("=", f"{total} tests skipped as POSIX-only")
        for reason, count in _posix_only.most_common():
            terminalreporter.write_line(f"{count:4d}  {reason}")


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every anyio test on both backends."""
    backend: str = request.param
    return backend


@pytest.fixture(autouse=True)
def _hcsim_clean(request: pytest.FixtureRequest) -> None:
    """Every test gets the ``hcsim`` fixture on the emulator build (nothing elsewhere).

    Without the extension at all, test_native.py reports that as a failure.
    """
    if testing.is_available():
        request.getfixturevalue("hcsim")


async def _started(system_id: str, config: dict[str, object]) -> AsyncIterator[ComputeSystem]:
    """A started system; afterwards terminated (unless it exited) and closed."""
    from aiohcs.system import ComputeSystem  # (not at import: the binding may be missing)

    system = await ComputeSystem.create(system_id, config)
    try:
        await system.start()
        yield system
    finally:
        with anyio.CancelScope(shield=True):
            await terminate_and_close(system)


@pytest.fixture
async def vm() -> AsyncIterator[ComputeSystem]:
    """A created VM ``"vm1"``; afterwards terminated (unless it exited) and closed."""
    from aiohcs.system import ComputeSystem  # (not at import: the binding may be missing)

    system = await ComputeSystem.create("vm1", VM)
    try:
        yield system
    finally:
        await terminate_and_close(system)


@pytest.fixture
async def linux() -> AsyncIterator[ComputeSystem]:
    """A started Linux VM; afterwards terminated (unless it exited) and closed."""
    async for system in _started("linux", LINUX):
        yield system


@pytest.fixture
async def windows() -> AsyncIterator[ComputeSystem]:
    """A started Windows container; afterwards terminated (unless it exited) and closed."""
    async for system in _started("windows", WINDOWS):
        yield system


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Each pipe engine in turn."""
    value: str = request.param
    return value
