"""hcsim's latency profiles (hcsim/README.md "Latency profiles", aiohcs.testing).

The suite runs on "instant" (conftest.py); "realistic" is hcsim's default, which a fresh
process without ``HCSIM_LATENCY`` shows. The tests here choose their profile with the
``hcsim_latency`` marker. The figures below are the README's: a create takes at least
50 ms, a start 100 ms.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import anyio
import pytest
from helpers import CONTAINER, child_env

import aiohcs
from aiohcs import ComputeSystem, testing

CREATE_MS = 50
START_MS = 100


async def _create_and_start(system_id: str) -> tuple[float, float]:
    """Milliseconds a create, then a start, of a container took."""
    t0 = time.perf_counter()
    async with await ComputeSystem.create(system_id, CONTAINER) as system:
        t1 = time.perf_counter()
        await system.start()
        t2 = time.perf_counter()
        await system.terminate()
    return (t1 - t0) * 1000, (t2 - t1) * 1000


# A fresh interpreter whose environment names no profile: hcsim's default.
_CHILD = """
import json, sys, time
import anyio
from aiohcs import ComputeSystem, testing

CONFIG = json.loads(sys.argv[2])

async def main():
    t0 = time.perf_counter()
    async with await ComputeSystem.create("default", CONFIG) as system:
        await system.start()
        ms = (time.perf_counter() - t0) * 1000
        await system.terminate()
    print(json.dumps({"profile": testing.latency_profile(), "ms": ms}))

anyio.run(main, backend=sys.argv[1])
"""


def test_the_default_profile_is_realistic(anyio_backend: str) -> None:
    env = child_env()
    env.pop(testing.LATENCY_ENV, None)
    env.pop(testing.LATENCY_SEED_ENV, None)
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, anyio_backend, json.dumps(CONTAINER)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["profile"] == "realistic"
    assert result["ms"] >= CREATE_MS + START_MS


@pytest.mark.anyio
@pytest.mark.hcsim_latency("realistic")
async def test_realistic_create_and_start_take_their_figures() -> None:
    assert testing.latency_profile() == "realistic"
    create_ms, start_ms = await _create_and_start("realistic")
    assert create_ms >= CREATE_MS
    assert start_ms >= START_MS


@pytest.mark.anyio
@pytest.mark.hcsim_latency("instant")
async def test_instant_is_fast() -> None:
    assert testing.latency_profile() == "instant"
    best = min([sum(await _create_and_start(f"instant-{i}")) for i in range(3)])
    assert best < (CREATE_MS + START_MS) / 2


@pytest.mark.anyio
@pytest.mark.hcsim_latency("instant")
async def test_set_latency_profile_as_a_context_manager() -> None:
    seed = testing.latency_seed()
    with testing.set_latency_profile("realistic", seed=7) as override:
        assert (testing.latency_profile(), testing.latency_seed()) == ("realistic", 7)
        with anyio.fail_after(10):
            create_ms, _ = await _create_and_start("managed")
        assert create_ms >= CREATE_MS
    assert (testing.latency_profile(), testing.latency_seed()) == ("instant", seed)
    assert "restored" in repr(override)


def test_reset_returns_to_the_profile_of_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert os.environ[testing.LATENCY_ENV] in testing.LATENCY_PROFILES  # conftest.py's
    pairs = zip(testing.LATENCY_PROFILES, reversed(testing.LATENCY_PROFILES), strict=True)
    for named, other in pairs:
        monkeypatch.setenv(testing.LATENCY_ENV, named)
        testing.set_latency_profile(other)
        testing.reset()
        assert testing.latency_profile() == named
    testing.set_option("LatencyProfile", 1)
    assert testing.latency_profile() == "realistic"
    monkeypatch.undo()
    testing.reset()


@pytest.mark.parametrize(
    ("expected", "kwargs"),
    [
        (aiohcs.InvalidArgumentError, {"profile": "slow"}),
        (aiohcs.InvalidArgumentTypeError, {"profile": 1}),
        (aiohcs.InvalidArgumentTypeError, {"profile": "instant", "seed": "1"}),
        (aiohcs.InvalidArgumentError, {"profile": "instant", "seed": -1}),
    ],
)
def test_bad_profiles_and_seeds_are_refused(
    expected: type[Exception], kwargs: dict[str, object]
) -> None:
    before = testing.latency_profile()
    with pytest.raises(expected):
        testing.set_latency_profile(**kwargs)  # type: ignore[arg-type]
    assert testing.latency_profile() == before


@pytest.mark.hcsim_latency("realistic")
def test_the_fixture_object_has_the_latency_controls(hcsim: testing.HcsimControl) -> None:
    assert hcsim.latency_profile() == "realistic"
    with hcsim.set_latency_profile("instant"):
        assert hcsim.latency_profile() == "instant"
    assert hcsim.latency_profile() == "realistic"


def test_profile_names_ignore_case_as_the_environment_does() -> None:
    with testing.set_latency_profile("Realistic"):  # type: ignore[arg-type]
        assert testing.latency_profile() == "realistic"
        with testing.set_latency_profile("INSTANT"):  # type: ignore[arg-type]
            assert testing.latency_profile() == "instant"
