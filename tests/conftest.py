"""Shared fixtures.

* ``anyio_backend``: tests marked ``@pytest.mark.anyio`` run once on asyncio and once on trio.
* On the emulator build every test runs under the ``hcsim`` fixture of aiohcs's own pytest
  plugin (:mod:`aiohcs.testing.pytest_plugin`): it starts from a reset hcsim and must leave
  nothing behind — no operation, handle, process, pipe handle or unfreed document, and no
  compute system unless the test is marked ``hcsim_leaves_systems``. Asynchronous clean-up
  gets the plugin's settle time; a test whose body failed is not reported again for leaks.
"""

from __future__ import annotations

import pytest

from aiohcs import testing

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
