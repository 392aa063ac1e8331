"""aiohcs: an asyncio/trio SDK for the Windows Host Compute System API.

``import aiohcs`` is cheap: it loads only the exceptions. The async API
(``aiohcs.ComputeSystem``, ``aiohcs.enumerate_systems``, ...) is imported on first use,
and with it the native binding (computecore on Windows, the hcsim emulator elsewhere).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from aiohcs.errors import (
    AccessDenied,
    HcsError,
    HcsNotAvailableError,
    HResult,
    InvalidArgumentError,
    InvalidDocumentError,
    InvalidJson,
    InvalidState,
    OperationTimeout,
    ProcessAlreadyStopped,
    ProcessNotFound,
    ServiceDisconnected,
    SystemAlreadyExists,
    SystemAlreadyStopped,
    SystemNotFound,
    UnsupportedOnThisHost,
)

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers
    from aiohcs.events import Event as Event
    from aiohcs.events import EventStream as EventStream
    from aiohcs.events import EventType as EventType
    from aiohcs.operation import HandleClosedError as HandleClosedError
    from aiohcs.operation import OperationType as OperationType
    from aiohcs.service import modify_service_settings as modify_service_settings
    from aiohcs.service import service_properties as service_properties
    from aiohcs.service import submit_wer_report as submit_wer_report
    from aiohcs.system import ComputeSystem as ComputeSystem
    from aiohcs.system import enumerate_systems as enumerate_systems

__version__ = "0.1.0"

__all__ = [
    "AccessDenied",
    "HResult",
    "HcsError",
    "HcsNotAvailableError",
    "InvalidArgumentError",
    "InvalidDocumentError",
    "InvalidJson",
    "InvalidState",
    "OperationTimeout",
    "ProcessAlreadyStopped",
    "ProcessNotFound",
    "ServiceDisconnected",
    "SystemAlreadyExists",
    "SystemAlreadyStopped",
    "SystemNotFound",
    "UnsupportedOnThisHost",
    "__version__",
]

# Public names of the async API → the modules that may define them, first match wins.
# Loaded on first attribute access so that ``import aiohcs`` stays light.
_SYSTEM = ("aiohcs.system",)
_PROCESS = ("aiohcs.process", "aiohcs.system")
_SERVICE = ("aiohcs.service",)
_EVENTS = ("aiohcs.events",)
_OPERATION = ("aiohcs.operation",)
_LAZY: dict[str, tuple[str, ...]] = {
    "ComputeSystem": _SYSTEM,
    "enumerate_systems": _SYSTEM,
    "HandleClosedError": (*_OPERATION, *_SYSTEM),
    "Process": _PROCESS,
    "service_properties": _SERVICE,
    "modify_service_settings": _SERVICE,
    "submit_wer_report": _SERVICE,
    "Event": _EVENTS,
    "EventType": _EVENTS,
    "EventStream": _EVENTS,
    "OperationType": _OPERATION,
}
# Modules searched (through their ``__all__``) for a public name the table lacks.
_API_MODULES = (
    "aiohcs.system",
    "aiohcs.process",
    "aiohcs.service",
    "aiohcs.events",
    "aiohcs.operation",
    "aiohcs.storage",
)
_SUBMODULES = frozenset({"schema", "testing", "cli"})


def _import_optional(module_name: str) -> Any:
    """Import ``module_name``; None if that module (not one it imports) does not exist."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = _import_optional(f"aiohcs.{name}")
        if module is not None:
            return module
    elif not name.startswith("_"):
        explicit = _LAZY.get(name, ())
        for module_name in explicit:
            module = _import_optional(module_name)
            if module is not None and hasattr(module, name):
                value = getattr(module, name)
                globals()[name] = value
                return value
        if not explicit:
            for module_name in _API_MODULES:
                module = _import_optional(module_name)
                if module is not None and name in getattr(module, "__all__", ()):
                    value = getattr(module, name)
                    globals()[name] = value
                    return value
    raise AttributeError(f"module 'aiohcs' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
