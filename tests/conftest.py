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
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import anyio
import pytest
from helpers import LINUX, VM, WINDOWS, terminate_and_close

from aiohcs import testing
from aiohcs._pipes import ENGINES

if TYPE_CHECKING:
    from aiohcs.system import ComputeSystem

pytest_plugins = ["aiohcs.testing.pytest_plugin"]


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
