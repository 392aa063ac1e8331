"""hcsim's latency profiles: how long the emulated service takes to complete operations.

``"realistic"`` (hcsim's default): creates, starts, shutdowns and saves take tens of
milliseconds, queries a few, each with a small jitter drawn from a seeded generator
(the same in every run for calls made one after the other), so code that (wrongly)
races the service fails on hcsim as it would on Windows.
``"instant"``: every operation completes as soon as possible (a fast suite). The figures
and their evidence are in hcsim's README ("Latency profiles").

The profile in effect after :func:`~aiohcs.testing.reset` is the one the environment
names: ``HCSIM_LATENCY=instant|realistic`` (and ``HCSIM_LATENCY_SEED=<int>`` for the
jitter), read by hcsim at its first call and at every reset, so it reaches hcsim's
Windows DLLs and programs in any language too. :func:`set_latency_profile` changes it
for the current test.
"""

from __future__ import annotations

import functools
from typing import Final, Literal, TypeAlias

from aiohcs.errors import InvalidArgumentError, InvalidArgumentTypeError
from aiohcs.testing._control import Override, _check, _lib

__all__ = [
    "LATENCY_ENV",
    "LATENCY_PROFILES",
    "LATENCY_SEED_ENV",
    "LatencyProfile",
    "latency_profile",
    "latency_seed",
    "set_latency_profile",
]

#: A latency profile's name.
LatencyProfile: TypeAlias = Literal["instant", "realistic"]
#: The profiles, in the order of hcsim's ``LatencyProfile`` option values (0, 1).
LATENCY_PROFILES: Final[tuple[LatencyProfile, ...]] = ("instant", "realistic")
#: The environment variable that chooses the profile hcsim starts and resets to.
LATENCY_ENV: Final = "HCSIM_LATENCY"
#: The environment variable that seeds the jitter (an integer >= 0; default 1).
LATENCY_SEED_ENV: Final = "HCSIM_LATENCY_SEED"

_PROFILE_OPTION: Final = b"LatencyProfile"
_SEED_OPTION: Final = b"LatencySeed"
_SEED_MAX: Final = 2**63 - 1


def _get(option: bytes) -> int:
    from aiohcs import _native

    value = _native.ffi.new("int64_t *")
    _check(_lib().HcsimGetOption(option, value), f"HcsimGetOption({option.decode()!r})")
    return int(value[0])


def _set(option: bytes, value: int) -> None:
    _check(_lib().HcsimSetOption(option, value), f"HcsimSetOption({option.decode()!r})")


def latency_profile() -> LatencyProfile:
    """The latency profile in effect now: ``"realistic"`` or ``"instant"``."""
    return LATENCY_PROFILES[_get(_PROFILE_OPTION)]


def latency_seed() -> int:
    """The seed of the jitter of the realistic profile."""
    return _get(_SEED_OPTION)


def _profile(profile: object) -> int:
    if not isinstance(profile, str):
        raise InvalidArgumentTypeError(f"profile must be a str, not {type(profile).__name__}")
    # Case is ignored, as in the HCSIM_LATENCY environment variable.
    if profile.lower() not in LATENCY_PROFILES:
        names = ", ".join(repr(p) for p in LATENCY_PROFILES)
        raise InvalidArgumentError(f"unknown latency profile {profile!r}; valid: {names}")
    return LATENCY_PROFILES.index(profile.lower())


def _seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidArgumentTypeError(f"seed must be an int, not {type(seed).__name__}")
    if not 0 <= seed <= _SEED_MAX:
        raise InvalidArgumentError(f"seed must be between 0 and {_SEED_MAX}, not {seed}")
    return seed


def _restore(profile: int, seed: int) -> None:
    _set(_PROFILE_OPTION, profile)
    _set(_SEED_OPTION, seed)


def set_latency_profile(profile: LatencyProfile, *, seed: int | None = None) -> Override:
    """Make hcsim's operations take ``profile``'s latencies (and reseed the jitter).

    Applied at once, until changed or until :func:`~aiohcs.testing.reset` (which goes
    back to the profile of the environment). Use the result as a context manager to put
    the previous profile and seed back::

        with aiohcs.testing.set_latency_profile("realistic"):
            ...  # a create + start now takes at least 150 ms
    """
    value = _profile(profile)
    new_seed = None if seed is None else _seed(seed)
    previous = (_get(_PROFILE_OPTION), _get(_SEED_OPTION))
    _set(_PROFILE_OPTION, value)
    if new_seed is not None:
        _set(_SEED_OPTION, new_seed)
    described = f"set_latency_profile({profile!r}" + ("" if seed is None else f", seed={seed}")
    return Override(described + ")", functools.partial(_restore, *previous))
