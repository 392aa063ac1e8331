"""Test your HCS code on hcsim: fault injection, emulator control and leak checks.

On the emulator build (Linux, macOS) these functions drive hcsim, the emulator compiled
into aiohcs: make the next call of an HCS function fail, slow calls down, crash a system,
power its guest off, raise any event, drop the service connection, hide an export as an
older Windows build would, count live objects and reset everything. Importing this
package works everywhere; on a build without hcsim (Windows) every call raises
:class:`HcsimNotLoadedError`.

The pytest plugin :mod:`aiohcs.testing.pytest_plugin` (opt-in) provides the ``hcsim``
fixture: a reset emulator before the test, a leak check after it.
"""

from __future__ import annotations

from aiohcs.testing._control import (
    LEAK_COUNTERS,
    OPTIONS,
    Counts,
    ErrorSpec,
    HcsimControl,
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

__all__ = [
    "LEAK_COUNTERS",
    "OPTIONS",
    "Counts",
    "ErrorSpec",
    "HcsimControl",
    "HcsimNotLoadedError",
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
    "raise_system_event",
    "reset",
    "set_option",
]
