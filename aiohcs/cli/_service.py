"""Which hcsim the tool runs on: a service's (``$AIOHCS_HCSIM``, the default socket) or its own.

Only the command line tool looks for a live service on the default socket; a library user
chooses one with ``AIOHCS_HCSIM`` alone. ``AIOHCS_HCSIM=`` (empty) keeps the tool in-process.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable

from aiohcs import _hcsim_service as service

__all__ = ["NO_SERVICE_HINT", "not_found_hint", "use_service"]

#: Appended to HCS_E_SYSTEM_NOT_FOUND when the tool runs its own, empty hcsim.
NO_SERVICE_HINT = (
    "without an hcsim service each aiohcs command starts with an empty emulator: start one "
    "with 'aiohcs hcsim serve' (in another terminal), or run the commands in one "
    "'aiohcs script FILE'"
)


def use_service(note: Callable[[str], None] = lambda message: None) -> str | None:
    """Connect to the service the tool should use; return its socket, or None (in-process).

    ``AIOHCS_HCSIM=PATH``: the binding connected at its import (here it is imported, so a
    dead service is reported now). Unset: the default socket if a service answers there;
    ``note`` is told when a socket is there but nobody answers (a service was killed).
    """
    if sys.platform == "win32":
        return None
    else:
        return _use_service_posix(note)


def _use_service_posix(note: Callable[[str], None]) -> str | None:
    if service.ENV in os.environ:
        if service.environment_socket() is None:
            return None
        from aiohcs import _native  # noqa: F401  (connects, or raises HcsimServiceUnavailable)

        return service.service_socket()
    path = service.default_socket_path()
    try:
        if not stat.S_ISSOCK(os.stat(path).st_mode):
            return None
    except OSError:
        return None
    if not service.supported():
        return None
    if service.try_connect(path):
        return path
    note(f"no hcsim service answers at {path} (a stale socket); running hcsim in this process")
    return None


def not_found_hint() -> str | None:
    """The hint for HCS_E_SYSTEM_NOT_FOUND: set when the tool runs its own hcsim."""
    return None if sys.platform == "win32" or service.service_socket() else NO_SERVICE_HINT
