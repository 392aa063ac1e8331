"""The ``HcsimControl`` object: every control of :mod:`aiohcs.testing` as a method."""

from __future__ import annotations

from aiohcs.testing._control import (
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
from aiohcs.testing._latency import latency_profile, latency_seed, set_latency_profile
from aiohcs.testing._service import service_socket

__all__ = ["HcsimControl"]


class HcsimControl:
    """hcsim's controls as one object: what the ``hcsim`` pytest fixture yields.

    Every method is the module-level function of the same name (``hcsim.fail_next`` is
    :func:`aiohcs.testing.fail_next`), so a test can take the fixture and type it.
    """

    is_available = staticmethod(is_available)
    function_names = staticmethod(function_names)
    faultable_functions = staticmethod(faultable_functions)
    fail_next = staticmethod(fail_next)
    delay = staticmethod(delay)
    hide_export = staticmethod(hide_export)
    crash_system = staticmethod(crash_system)
    guest_shutdown = staticmethod(guest_shutdown)
    raise_system_event = staticmethod(raise_system_event)
    disconnect_service = staticmethod(disconnect_service)
    set_option = staticmethod(set_option)
    service_socket = staticmethod(service_socket)
    latency_profile = staticmethod(latency_profile)
    latency_seed = staticmethod(latency_seed)
    set_latency_profile = staticmethod(set_latency_profile)
    counts = staticmethod(counts)
    reset = staticmethod(reset)
    assert_no_leaks = staticmethod(assert_no_leaks)
    assert_no_leaks_async = staticmethod(assert_no_leaks_async)

    def __repr__(self) -> str:
        return "<HcsimControl>"
