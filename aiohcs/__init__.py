"""aiohcs: an asyncio/trio SDK for the Windows Host Compute System API.

``import aiohcs`` is cheap: it loads only the exceptions. The async API
(``aiohcs.ComputeSystem``, ``aiohcs.enumerate_systems``, ...) is imported on first use,
and with it the native binding (computecore on Windows, the hcsim emulator elsewhere).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from aiohcs.errors import (
    AccessDenied,
    AddressUnavailable,
    AlreadyExists,
    HcsError,
    HcsNotAvailableError,
    HResult,
    HResultValue,
    InUse,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    InvalidDocumentError,
    InvalidJson,
    InvalidState,
    MalformedResult,
    NotFound,
    OperationTimeout,
    ProcessAlreadyStopped,
    ProcessNotFound,
    ResourceExhausted,
    ServiceDisconnected,
    SystemAlreadyExists,
    SystemAlreadyStopped,
    SystemNotFound,
    UnsupportedOnThisHost,
    UsedAfterForkError,
)

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers
    from aiohcs import cli as cli
    from aiohcs import migration as migration
    from aiohcs import schema as schema
    from aiohcs import testing as testing
    from aiohcs.events import Event as Event
    from aiohcs.events import EventStream as EventStream
    from aiohcs.events import EventType as EventType
    from aiohcs.events import LiveMigrationEvent as LiveMigrationEvent
    from aiohcs.events import OperationProgress as OperationProgress
    from aiohcs.events import ProcessExited as ProcessExited
    from aiohcs.events import ServiceDisconnectedEvent as ServiceDisconnectedEvent
    from aiohcs.events import SystemCrashInitiated as SystemCrashInitiated
    from aiohcs.events import SystemCrashReport as SystemCrashReport
    from aiohcs.events import SystemExited as SystemExited
    from aiohcs.events import SystemGuestConnectionClosed as SystemGuestConnectionClosed
    from aiohcs.events import (
        SystemRdpEnhancedModeStateChanged as SystemRdpEnhancedModeStateChanged,
    )
    from aiohcs.events import SystemSiloJobCreated as SystemSiloJobCreated
    from aiohcs.events import UnknownEvent as UnknownEvent
    from aiohcs.events import VmLifecycleEvent as VmLifecycleEvent
    from aiohcs.operation import HandleClosedError as HandleClosedError
    from aiohcs.operation import OperationType as OperationType
    from aiohcs.process import DEVNULL as DEVNULL
    from aiohcs.process import PIPE as PIPE
    from aiohcs.process import CompletedProcess as CompletedProcess
    from aiohcs.process import PipesNotClosed as PipesNotClosed
    from aiohcs.process import Process as Process
    from aiohcs.process import ProcessFailed as ProcessFailed
    from aiohcs.process import open_process as open_process
    from aiohcs.process import run_process as run_process
    from aiohcs.process import stream_process as stream_process
    from aiohcs.progress import TrackedOperation as TrackedOperation
    from aiohcs.service import modify_service_settings as modify_service_settings
    from aiohcs.service import service_properties as service_properties
    from aiohcs.service import submit_wer_report as submit_wer_report
    from aiohcs.system import ComputeSystem as ComputeSystem
    from aiohcs.system import enumerate_systems as enumerate_systems

__version__ = "0.1.0"

__all__ = [
    "AccessDenied",
    "AddressUnavailable",
    "AlreadyExists",
    "HResult",
    "HResultValue",
    "HcsError",
    "HcsNotAvailableError",
    "InUse",
    "InvalidArgumentError",
    "InvalidArgumentTypeError",
    "InvalidDocumentError",
    "InvalidJson",
    "InvalidState",
    "MalformedResult",
    "NotFound",
    "OperationTimeout",
    "ProcessAlreadyStopped",
    "ProcessNotFound",
    "ResourceExhausted",
    "ServiceDisconnected",
    "SystemAlreadyExists",
    "SystemAlreadyStopped",
    "SystemNotFound",
    "UnsupportedOnThisHost",
    "UsedAfterForkError",
    "__version__",
]

# The public names of the async API → the module that defines each. Loaded on first
# attribute access so that ``import aiohcs`` stays light (no cffi, no pydantic).
_LAZY: Final[Mapping[str, str]] = {
    "ComputeSystem": "aiohcs.system",
    "enumerate_systems": "aiohcs.system",
    "Process": "aiohcs.process",
    "CompletedProcess": "aiohcs.process",
    "ProcessFailed": "aiohcs.process",
    "PipesNotClosed": "aiohcs.process",
    "PIPE": "aiohcs.process",
    "DEVNULL": "aiohcs.process",
    "open_process": "aiohcs.process",
    "run_process": "aiohcs.process",
    "stream_process": "aiohcs.process",
    "Event": "aiohcs.events",
    "EventType": "aiohcs.events",
    "EventStream": "aiohcs.events",
    # The event classes. The event of a lost service connection is ServiceDisconnectedEvent:
    # ``aiohcs.ServiceDisconnected`` is the exception (aiohcs.errors).
    "SystemExited": "aiohcs.events",
    "SystemCrashInitiated": "aiohcs.events",
    "SystemCrashReport": "aiohcs.events",
    "SystemGuestConnectionClosed": "aiohcs.events",
    "SystemRdpEnhancedModeStateChanged": "aiohcs.events",
    "SystemSiloJobCreated": "aiohcs.events",
    "ProcessExited": "aiohcs.events",
    "ServiceDisconnectedEvent": "aiohcs.events",
    "UnknownEvent": "aiohcs.events",
    # The event groups of the newest SDK (VM lifecycle, live migration, operation progress).
    "VmLifecycleEvent": "aiohcs.events",
    "LiveMigrationEvent": "aiohcs.events",
    "OperationProgress": "aiohcs.events",
    "TrackedOperation": "aiohcs.progress",
    "HandleClosedError": "aiohcs.operation",
    "OperationType": "aiohcs.operation",
    "service_properties": "aiohcs.service",
    "modify_service_settings": "aiohcs.service",
    "submit_wer_report": "aiohcs.service",
}
# Subpackages reachable as attributes (``aiohcs.testing.reset()`` after ``import aiohcs``).
_SUBMODULES: Final = frozenset({"cli", "migration", "schema", "testing"})


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
        return importlib.import_module(f"aiohcs.{name}")
    module_name = _LAZY.get(name)
    if module_name is not None:
        module = _import_optional(module_name)
        if module is not None and hasattr(module, name):
            value = getattr(module, name)
            globals()[name] = value
            return value
    raise AttributeError(f"module 'aiohcs' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *_SUBMODULES})
