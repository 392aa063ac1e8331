"""Test your HCS code on hcsim: fault injection, emulator control and leak checks.

On the emulator build (Linux, macOS) these functions drive hcsim, the emulator compiled
into aiohcs: make the next call of an HCS function fail, slow calls down, crash a system,
power its guest off, raise any event, drop the service connection, hide an export as an
older Windows build would, count live objects and reset everything. Importing this
package works everywhere; on a build without hcsim (Windows) every call raises
:class:`HcsimNotLoadedError`.

hcsim's operations take realistic latencies by default (creates and starts take tens of
milliseconds); :func:`set_latency_profile` (or ``HCSIM_LATENCY=instant`` in the
environment) makes them complete at once.

With ``AIOHCS_HCSIM=PATH`` the process is a client of an hcsim service (``aiohcs hcsim
serve``) and these controls act on the service's emulated host: :func:`service_socket`
tells, and says what differs.

The pytest plugin :mod:`aiohcs.testing.pytest_plugin` (opt-in) provides the ``hcsim``
fixture: a reset emulator before the test, a leak check after it, and the
``hcsim_latency`` marker.
"""

from __future__ import annotations

from aiohcs.testing._control import (
    LEAK_COUNTERS,
    OPTIONS,
    Counts,
    ErrorSpec,
    HcsimNotLoadedError,
    LeakError,
    Override,
    SystemRef,
    assert_no_leaks,
    assert_no_leaks_async,
    counts,
    crash_system,
    delay,
    disconnect_service,
    fail_next,
    faultable_functions,
    function_names,
    guest_shutdown,
    hide_export,
    is_available,
    raise_system_event,
    reset,
    set_option,
)
from aiohcs.testing._hcsim_control import HcsimControl
from aiohcs.testing._latency import (
    LATENCY_ENV,
    LATENCY_PROFILES,
    LATENCY_SEED_ENV,
    LatencyProfile,
    latency_profile,
    latency_seed,
    set_latency_profile,
)
from aiohcs.testing._service import service_socket

__all__ = [
    "LATENCY_ENV",
    "LATENCY_PROFILES",
    "LATENCY_SEED_ENV",
    "LEAK_COUNTERS",
    "OPTIONS",
    "Counts",
    "ErrorSpec",
    "HcsimControl",
    "HcsimNotLoadedError",
    "LatencyProfile",
    "LeakError",
    "Override",
    "SystemRef",
    "assert_no_leaks",
    "assert_no_leaks_async",
    "counts",
    "crash_system",
    "delay",
    "disconnect_service",
    "fail_next",
    "faultable_functions",
    "function_names",
    "guest_shutdown",
    "hide_export",
    "is_available",
    "latency_profile",
    "latency_seed",
    "raise_system_event",
    "reset",
    "service_socket",
    "set_latency_profile",
    "set_option",
]
