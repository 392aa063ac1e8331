"""The compute system as the process layer sees it, and the guest OS it runs.

:class:`ProcessParent` is all a :class:`~aiohcs.process.Process` needs from the system it
runs in: its id and namespace, its handle (through its operation owner, so the system's
close waits for calls using it), and its properties (for the guest OS). A
:class:`~aiohcs.system.ComputeSystem` is one; the process layer never imports
:mod:`aiohcs.system`.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, Protocol

from aiohcs._process_options import GuestOs

if TYPE_CHECKING:
    from aiohcs.operation import OperationOwner
    from aiohcs.schema import Properties

__all__ = ["ProcessParent", "detect_guest_os"]


class ProcessParent(Protocol):
    """What the process layer uses of a compute system (a ComputeSystem is one)."""

    @property
    def id(self) -> str:
        """The compute system's id."""
        ...

    @property
    def namespace(self) -> str | None:
        """The namespace the system was opened in (None: the default one)."""
        ...

    @property
    def _ops(self) -> OperationOwner:
        """The owner of the system handle's calls (its close waits for them)."""
        ...

    def _require_handle(self) -> Any:
        """The system handle; raises HandleClosedError once it is closed."""
        ...

    async def properties(self) -> Properties:
        """The system's Properties (RuntimeOsType tells the guest OS)."""
        ...


_guest_os: weakref.WeakKeyDictionary[ProcessParent, GuestOs] = weakref.WeakKeyDictionary()


async def detect_guest_os(system: ProcessParent) -> GuestOs:
    """Return the guest OS of ``system`` from its Properties.RuntimeOsType.

    A system that reports no RuntimeOsType is taken for Windows — a guess, asked again
    next time (only a reported value is remembered). Pass ``guest_os=`` to
    ``open_process`` (and friends) where that guess would be wrong.
    """
    cached = _guest_os.get(system)
    if cached is not None:
        return cached
    value = (await system.properties()).runtime_os_type
    if value is None:
        return "Windows"
    text = str(getattr(value, "value", value))
    result: GuestOs = "Linux" if text.lower() == "linux" else "Windows"
    _guest_os[system] = result
    return result
