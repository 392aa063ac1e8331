"""Exceptions of aiohcs, and the HRESULT → exception mapping.

HCS reports failures as HRESULTs, often with a ResultError JSON document that says
more. :func:`error_from_hresult` turns both into one exception whose class says what
happened (:class:`SystemNotFound`, :class:`InvalidState`, ...) and whose ``str()`` is one
readable line::

    HCS_E_INVALID_STATE (0x80370105) in Start of system 'vm1': The requested operation ...

HCS errors are classified by their low 16 bits whenever the facility is 0x37, so the
computecore form (0x8037xxxx) and the legacy vmcompute form (0xC037xxxx) of the same
error land in the same class. Any HRESULT the table does not know becomes a plain
:class:`HcsError` (the catch-all) named by its hex value.

This module is imported by ``import aiohcs``: it must stay light (no cffi, no pydantic).
"""

from __future__ import annotations

import enum
import errno as _errno
from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "OPERATION_TYPE_NAMES",
    "AccessDenied",
    "HResult",
    "HResultValue",
    "HcsError",
    "HcsNotAvailableError",
    "InvalidArgumentError",
    "InvalidArgumentTypeError",
    "InvalidDocumentError",
    "InvalidJson",
    "InvalidState",
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
    "error_from_hresult",
    "hresult_name",
    "hresult_u32",
]

_HCS_FACILITY: Final = 0x37
_WIN32_FACILITY: Final = 0x7


class HResult(enum.IntEnum):
    """HRESULT values known by name, as unsigned 32-bit numbers.

    Holds the whole HCS_E_* table of HCS (0x8037xxxx) and the COM/Win32 values HCS is
    seen to return. Aliases (same value, second name) resolve to the first name.
    """

    S_OK = 0x00000000
    S_FALSE = 0x00000001

    E_NOTIMPL = 0x80004001
    E_NOINTERFACE = 0x80004002
    E_POINTER = 0x80004003
    E_ABORT = 0x80004004
    E_FAIL = 0x80004005
    E_UNEXPECTED = 0x8000FFFF

    # HRESULT_FROM_WIN32(...): facility 7.
    ERROR_FILE_NOT_FOUND = 0x80070002
    ERROR_PATH_NOT_FOUND = 0x80070003
    ERROR_TOO_MANY_OPEN_FILES = 0x80070004
    E_ACCESSDENIED = 0x80070005
    E_HANDLE = 0x80070006
    ERROR_NOT_ENOUGH_MEMORY = 0x80070008
    ERROR_INVALID_DATA = 0x8007000D
    E_OUTOFMEMORY = 0x8007000E
    ERROR_SHARING_VIOLATION = 0x80070020
    ERROR_NOT_SUPPORTED = 0x80070032
    ERROR_FILE_EXISTS = 0x80070050
    E_INVALIDARG = 0x80070057
    ERROR_PROC_NOT_FOUND = 0x8007007F
    ERROR_ALREADY_EXISTS = 0x800700B7
    WAIT_TIMEOUT = 0x80070102
    ERROR_SERVICE_DOES_NOT_EXIST = 0x80070424
    ERROR_SERVICE_NOT_ACTIVE = 0x80070426
    ERROR_NOT_FOUND = 0x80070490
    ERROR_TIMEOUT = 0x800705B4
    RPC_S_SERVER_UNAVAILABLE = 0x800706BA
    RPC_S_CALL_FAILED = 0x800706BE

    # HCS_E_*: computecore.
    HCS_E_TERMINATED_DURING_START = 0x80370100
    HCS_E_IMAGE_MISMATCH = 0x80370101
    HCS_E_HYPERV_NOT_INSTALLED = 0x80370102
    HCS_E_INVALID_STATE = 0x80370105
    HCS_E_UNEXPECTED_EXIT = 0x80370106
    HCS_E_TERMINATED = 0x80370107
    HCS_E_CONNECT_FAILED = 0x80370108
    HCS_E_CONNECTION_TIMEOUT = 0x80370109
    HCS_E_CONNECTION_CLOSED = 0x8037010A
    HCS_E_UNKNOWN_MESSAGE = 0x8037010B
    HCS_E_UNSUPPORTED_PROTOCOL_VERSION = 0x8037010C
    HCS_E_INVALID_JSON = 0x8037010D
    HCS_E_SYSTEM_NOT_FOUND = 0x8037010E
    HCS_E_SYSTEM_ALREADY_EXISTS = 0x8037010F
    HCS_E_SYSTEM_ALREADY_STOPPED = 0x80370110
    HCS_E_PROTOCOL_ERROR = 0x80370111
    HCS_E_INVALID_LAYER = 0x80370112
    HCS_E_WINDOWS_INSIDER_REQUIRED = 0x80370113
    HCS_E_SERVICE_NOT_AVAILABLE = 0x80370114
    HCS_E_OPERATION_NOT_STARTED = 0x80370115
    HCS_E_OPERATION_ALREADY_STARTED = 0x80370116
    HCS_E_OPERATION_PENDING = 0x80370117
    HCS_E_OPERATION_TIMEOUT = 0x80370118
    HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET = 0x80370119
    HCS_E_OPERATION_RESULT_ALLOCATION_FAILED = 0x8037011A
    HCS_E_ACCESS_DENIED = 0x8037011B
    HCS_E_GUEST_CRITICAL_ERROR = 0x8037011C
    HCS_E_PROCESS_INFO_NOT_AVAILABLE = 0x8037011D
    HCS_E_SERVICE_DISCONNECT = 0x8037011E
    HCS_E_PROCESS_ALREADY_STOPPED = 0x8037011F
    HCS_E_SYSTEM_NOT_CONFIGURED_FOR_OPERATION = 0x80370120
    HCS_E_OPERATION_ALREADY_CANCELLED = 0x80370121

    # Legacy vmcompute.dll codes whose low word HCS_E_* does not use.
    ERROR_VMCOMPUTE_OPERATION_PENDING = 0xC0370103
    ERROR_VMCOMPUTE_TOO_MANY_NOTIFICATIONS = 0xC0370104


# One-line meanings, paraphrased from the HCS documentation (semantics.md §9). Used as
# the message when HCS sends no ResultError document.
_DESCRIPTIONS: Final[Mapping[int, str]] = {
    HResult.S_OK: "Success",
    HResult.S_FALSE: "Success (false)",
    HResult.E_NOTIMPL: "Not implemented",
    HResult.E_NOINTERFACE: "Interface not supported",
    HResult.E_POINTER: "Invalid pointer",
    HResult.E_ABORT: "Operation aborted",
    HResult.E_FAIL: "Unspecified failure",
    HResult.E_UNEXPECTED: "Unexpected failure",
    HResult.ERROR_FILE_NOT_FOUND: "The file was not found",
    HResult.ERROR_PATH_NOT_FOUND: "The path was not found",
    HResult.ERROR_TOO_MANY_OPEN_FILES: "Too many open files",
    HResult.E_ACCESSDENIED: "Access is denied",
    HResult.E_HANDLE: "The handle is invalid",
    HResult.ERROR_NOT_ENOUGH_MEMORY: "Not enough memory",
    HResult.ERROR_INVALID_DATA: "The request is invalid or not supported by this platform",
    HResult.E_OUTOFMEMORY: "Out of memory",
    HResult.ERROR_SHARING_VIOLATION: "The file is in use by another process",
    HResult.ERROR_NOT_SUPPORTED: "The request is not supported",
    HResult.ERROR_FILE_EXISTS: "The file exists",
    HResult.E_INVALIDARG: "An argument is invalid",
    HResult.ERROR_PROC_NOT_FOUND: "The function is not exported by this Windows build",
    HResult.ERROR_ALREADY_EXISTS: "The object already exists",
    HResult.WAIT_TIMEOUT: "The wait timed out",
    HResult.ERROR_SERVICE_DOES_NOT_EXIST: "The service does not exist",
    HResult.ERROR_SERVICE_NOT_ACTIVE: "The service is not running",
    HResult.ERROR_NOT_FOUND: "Element not found (the process is gone or unknown)",
    HResult.ERROR_TIMEOUT: "The operation timed out",
    HResult.RPC_S_SERVER_UNAVAILABLE: "The RPC server is unavailable",
    HResult.RPC_S_CALL_FAILED: "The remote procedure call failed",
    HResult.HCS_E_TERMINATED_DURING_START: "The compute system exited unexpectedly while starting",
    HResult.HCS_E_IMAGE_MISMATCH: "The container OS version is incompatible with the host OS",
    HResult.HCS_E_HYPERV_NOT_INSTALLED: (
        "Hyper-V is not installed, so the virtual machine cannot start"
    ),
    HResult.HCS_E_INVALID_STATE: "The requested operation is not valid in the current state",
    HResult.HCS_E_UNEXPECTED_EXIT: "The compute system stopped without being asked to",
    HResult.HCS_E_TERMINATED: "The compute system was forcibly stopped",
    HResult.HCS_E_CONNECT_FAILED: "Could not connect to the compute system",
    HResult.HCS_E_CONNECTION_TIMEOUT: "The compute system did not answer in time",
    HResult.HCS_E_CONNECTION_CLOSED: "The connection to the compute system was closed",
    HResult.HCS_E_UNKNOWN_MESSAGE: "The compute system received a message type it does not know",
    HResult.HCS_E_UNSUPPORTED_PROTOCOL_VERSION: (
        "Host and compute system share no protocol version"
    ),
    HResult.HCS_E_INVALID_JSON: "The JSON document is malformed or violates the schema",
    HResult.HCS_E_SYSTEM_NOT_FOUND: "No compute system with that id exists",
    HResult.HCS_E_SYSTEM_ALREADY_EXISTS: "A compute system with that id already exists",
    HResult.HCS_E_SYSTEM_ALREADY_STOPPED: "The compute system is not running",
    HResult.HCS_E_PROTOCOL_ERROR: "The host/guest communication protocol was violated",
    HResult.HCS_E_INVALID_LAYER: "A container image layer has an unrecognised format",
    HResult.HCS_E_WINDOWS_INSIDER_REQUIRED: "The image needs a Windows Insider build",
    HResult.HCS_E_SERVICE_NOT_AVAILABLE: (
        "A required feature or service is not installed; the operation could not start"
    ),
    HResult.HCS_E_OPERATION_NOT_STARTED: "The operation has not been started by any call",
    HResult.HCS_E_OPERATION_ALREADY_STARTED: "The operation is already tracking a running call",
    HResult.HCS_E_OPERATION_PENDING: "The operation is still running",
    HResult.HCS_E_OPERATION_TIMEOUT: "The wait elapsed before the operation finished",
    HResult.HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET: (
        "The handle already has an event callback (or delivers operation completions as events)"
    ),
    HResult.HCS_E_OPERATION_RESULT_ALLOCATION_FAILED: "Out of memory while building the result",
    HResult.HCS_E_ACCESS_DENIED: (
        "The caller is neither an administrator nor in the Hyper-V Administrators group"
    ),
    HResult.HCS_E_GUEST_CRITICAL_ERROR: "The guest reported a critical error",
    HResult.HCS_E_PROCESS_INFO_NOT_AVAILABLE: "The process information cannot be provided",
    HResult.HCS_E_SERVICE_DISCONNECT: "The connection to the HCS service was lost",
    HResult.HCS_E_PROCESS_ALREADY_STOPPED: "The process has already exited",
    HResult.HCS_E_SYSTEM_NOT_CONFIGURED_FOR_OPERATION: (
        "The compute system is not configured for this operation"
    ),
    HResult.HCS_E_OPERATION_ALREADY_CANCELLED: "The operation was already cancelled",
    HResult.ERROR_VMCOMPUTE_OPERATION_PENDING: "The operation is pending",
    HResult.ERROR_VMCOMPUTE_TOO_MANY_NOTIFICATIONS: "Too many notifications",
}

#: HCS_OPERATION_TYPE values (semantics.md §2.2) → the names used in messages.
OPERATION_TYPE_NAMES: Final[Mapping[int, str]] = {
    -1: "None",
    0: "Enumerate",
    1: "Create",
    2: "Start",
    3: "Shutdown",
    4: "Pause",
    5: "Resume",
    6: "Save",
    7: "Terminate",
    8: "Modify",
    9: "GetProperties",
    10: "CreateProcess",
    11: "SignalProcess",
    12: "GetProcessInfo",
    13: "GetProcessProperties",
    14: "ModifyProcess",
    15: "Crash",
    16: "Reserved1",
    17: "Reserved2",
    18: "Reserved3",
    19: "LiveMigration",
}

_WIN10_1809: Final = "Windows 10 1809 / Windows Server 2019"


def hresult_u32(hr: int) -> int:
    """Return ``hr`` as an unsigned 32-bit number (HRESULTs arrive signed from C).

    Accepts the signed (-2**31 ≤ hr < 0) and the unsigned (0 ≤ hr < 2**32) spelling.
    """
    if not -0x80000000 <= hr <= 0xFFFFFFFF:
        raise ValueError(f"not a 32-bit HRESULT: {hr!r}")
    return hr & 0xFFFFFFFF


class HResultValue(int):
    """An HRESULT as an unsigned 32-bit number that prints the way errors do: ``0x8037010E``.

    The type of :attr:`HcsError.hresult`, of :attr:`aiohcs.events.SystemExited.hresult` and
    of the HRESULT members of the schema models (``SystemExitStatus.status``,
    ``ResultError.error``, ...), which HCS writes as signed numbers. It is an ``int`` (it
    compares equal to the unsigned value); ``str()``, ``repr()`` and ``f"{value}"`` give the
    hex form, a format spec formats the number (``f"{value:d}"``).
    """

    __slots__ = ()

    def __new__(cls, value: int) -> HResultValue:
        """``value``: the HRESULT, signed (as C and JSON give it) or unsigned."""
        return super().__new__(cls, hresult_u32(int(value)))

    def __repr__(self) -> str:
        return f"0x{int(self):08X}"

    __str__ = __repr__

    def __format__(self, format_spec: str) -> str:
        return int(self).__format__(format_spec) if format_spec else repr(self)

    @property
    def name(self) -> str:
        """The symbolic name (``"HCS_E_INVALID_STATE"``), or the hex value if unknown."""
        return hresult_name(self)

    @property
    def signed(self) -> int:
        """The HRESULT as the signed 32-bit number C and HCS's JSON documents use."""
        return int(self) - 0x100000000 if self & 0x80000000 else int(self)

    @property
    def failed(self) -> bool:
        """True for a failure HRESULT (the severity bit is set)."""
        return bool(self & 0x80000000)


def _is_hcs_facility(hr: int) -> bool:
    return bool(hr & 0x80000000) and (hr >> 16) & 0x7FF == _HCS_FACILITY


def _canonical(hr: int) -> int:
    """Map the legacy 0xC037xxxx form onto the 0x8037xxxx HCS_E_* value of the same low word."""
    if _is_hcs_facility(hr):
        canonical = 0x80370000 | (hr & 0xFFFF)
        if canonical in _DESCRIPTIONS:
            return canonical
    return hr


def hresult_name(hr: int) -> str:
    """Return the symbolic name of ``hr`` (e.g. ``"HCS_E_INVALID_STATE"``).

    The legacy 0xC037xxxx form of an HCS error gets the name of its 0x8037xxxx twin;
    unknown values are named by their hex value (``"0x80071234"``).
    """
    hr = hresult_u32(hr)
    if hr in _DESCRIPTIONS:
        return HResult(hr).name
    canonical = _canonical(hr)
    if canonical in _DESCRIPTIONS:
        return HResult(canonical).name
    return repr(HResultValue(hr))


def _describe(hr: int) -> str:
    return _DESCRIPTIONS.get(hr) or _DESCRIPTIONS.get(_canonical(hr), "")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _operation_name(operation: str | int | None) -> str | None:
    if operation is None or isinstance(operation, str):
        return operation or None
    return OPERATION_TYPE_NAMES.get(operation, f"operation type {operation}")


def _parse_result_error(document: str | bytes | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Parse a ResultError document leniently: anything that is not a JSON object → None."""
    if document is None:
        return None
    if isinstance(document, Mapping):
        return dict(document)
    import json  # only failures with a document pay for it

    try:
        parsed = json.loads(document)
    except (ValueError, TypeError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


class HcsError(Exception):
    """An HCS call failed. Base of every HRESULT-derived error, and the catch-all.

    Attributes:
        hresult: the HRESULT as an unsigned 32-bit number (an :class:`HResultValue`).
        name: its symbolic name ("HCS_E_INVALID_STATE", "E_ACCESSDENIED", or "0x8007xxxx").
        message: HCS's ErrorMessage if it sent one, else the documented meaning.
        document: the raw failure document as HCS returned it (or None).
        result_error: the parsed ResultError document as a dict (None if absent/malformed).
        error_events: ResultError.ErrorEvents (dicts with Message, Data, ...), possibly [].
        operation: the operation type name ("Start", "Create", ...) if known.
        system_id / process_id: the compute system / process concerned, if known.
    """

    hresult: int  # an HResultValue
    name: str
    message: str
    document: str | None
    result_error: dict[str, Any] | None
    error_events: list[dict[str, Any]]
    operation: str | None
    system_id: str | None
    process_id: int | None

    def __init__(
        self,
        hresult: int,
        message: str | None = None,
        *,
        document: str | bytes | Mapping[str, Any] | None = None,
        operation: str | int | None = None,
        system_id: str | None = None,
        process_id: int | None = None,
    ) -> None:
        self.hresult = HResultValue(hresult)
        self.name = hresult_name(self.hresult)
        if isinstance(document, bytes):
            document = document.decode("utf-8", "replace")
        self.document = document if isinstance(document, str) else None
        self.result_error = _parse_result_error(document)
        doc = self.result_error or {}
        events = doc.get("ErrorEvents")
        self.error_events = (
            [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []
        )
        doc_message = doc.get("ErrorMessage")
        if message is None and isinstance(doc_message, str) and doc_message.strip():
            message = doc_message
        if message is None:
            message = _describe(self.hresult)
        self.message = message
        self.operation = _operation_name(operation)
        self.system_id = system_id
        self.process_id = process_id
        super().__init__(self.hresult, message)

    @property
    def result_error_model(self) -> Any:
        """The ResultError as an :class:`aiohcs.schema.ResultError` model (None if absent).

        Loads the schema models on first use; a document that does not validate gives None.
        """
        if self.result_error is None:
            return None
        from aiohcs.schema import ResultError

        try:
            return ResultError.model_validate(self.result_error)
        except ValueError:
            return None

    @property
    def facility(self) -> int:
        """The HRESULT's facility (0x37 for HCS, 7 for Win32)."""
        return (self.hresult >> 16) & 0x7FF

    @property
    def code(self) -> int:
        """The low 16 bits of the HRESULT."""
        return self.hresult & 0xFFFF

    @property
    def win32_error(self) -> int | None:
        """The Win32 error code for a facility-7 failure (HRESULT_FROM_WIN32), else None."""
        if self.hresult & 0x80000000 and self.facility == _WIN32_FACILITY:
            return self.code
        return None

    @property
    def signed_hresult(self) -> int:
        """The HRESULT as the signed 32-bit number C and ResultError.Error use."""
        return HResultValue(self.hresult).signed

    def _context(self) -> str:
        if self.system_id is not None and self.process_id is not None:
            target = f"process {self.process_id} of system {self.system_id!r}"
        elif self.system_id is not None:
            target = f"system {self.system_id!r}"
        elif self.process_id is not None:
            target = f"process {self.process_id}"
        else:
            target = ""
        text = f" in {self.operation}" if self.operation else ""
        if target:
            text += f" of {target}" if self.operation else f" for {target}"
        return text

    def __str__(self) -> str:
        head = self.name
        if not head.startswith("0x"):
            head += f" ({HResultValue(self.hresult)})"
        line = head + self._context()
        message = _one_line(self.message)
        event_message = next(
            (
                _one_line(m)
                for e in self.error_events
                if isinstance(m := e.get("Message"), str) and m.strip()
            ),
            "",
        )
        if event_message and event_message != message:
            message = f"{message} ({event_message})" if message else event_message
        return f"{line}: {message}" if message else line

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, {HResultValue(self.hresult)}, {self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only context must survive pickling (e.g. across processes).
        return (_rebuild, (type(self), self.hresult, self.__dict__.copy()))


def _rebuild(cls: type[HcsError], hresult: int, state: dict[str, Any]) -> HcsError:
    error = cls.__new__(cls)
    Exception.__init__(error, hresult, state.get("message", ""))
    error.__dict__.update(state)
    return error


class SystemNotFound(HcsError):
    """No compute system with that id (HCS_E_SYSTEM_NOT_FOUND)."""


class SystemAlreadyExists(HcsError):
    """A compute system with that id already exists (HCS_E_SYSTEM_ALREADY_EXISTS)."""


class InvalidState(HcsError):
    """The request is not valid in the system's current state (HCS_E_INVALID_STATE)."""


class SystemAlreadyStopped(HcsError):
    """The compute system is not running any more (HCS_E_SYSTEM_ALREADY_STOPPED)."""


class ProcessAlreadyStopped(HcsError):
    """The process has already exited (HCS_E_PROCESS_ALREADY_STOPPED)."""


class ProcessNotFound(HcsError):
    """No such process (HRESULT_FROM_WIN32(ERROR_NOT_FOUND), 0x80070490)."""


class InvalidJson(HcsError):
    """HCS rejected a JSON document as malformed or invalid (HCS_E_INVALID_JSON)."""


class AccessDenied(HcsError):
    """The caller may not do this (HCS_E_ACCESS_DENIED or E_ACCESSDENIED)."""


class ServiceDisconnected(HcsError):
    """The connection to the HCS service was lost (HCS_E_SERVICE_DISCONNECT)."""


class OperationTimeout(HcsError):
    """A wait elapsed before the operation finished (HCS_E_OPERATION_TIMEOUT)."""


class UnsupportedOnThisHost(HcsError):
    """The host's Windows build lacks an HCS export (ERROR_PROC_NOT_FOUND).

    ``export`` names the missing function and ``release`` the Windows release that
    introduced it, where known.
    """

    export: str | None
    release: str | None

    def __init__(
        self,
        hresult: int = HResult.ERROR_PROC_NOT_FOUND,
        message: str | None = None,
        *,
        export: str | None = None,
        release: str | None = None,
        document: str | bytes | Mapping[str, Any] | None = None,
        operation: str | int | None = None,
        system_id: str | None = None,
        process_id: int | None = None,
    ) -> None:
        if message is None and export is not None:
            message = f"{export} is not available on this host"
            if release is not None:
                message += f"; it needs {release} or later"
        super().__init__(
            hresult,
            message,
            document=document,
            operation=operation,
            system_id=system_id,
            process_id=process_id,
        )
        self.export = export
        self.release = release


class ResourceExhausted(HcsError):
    """The host ran out of descriptors or memory (ERROR_TOO_MANY_OPEN_FILES, E_OUTOFMEMORY).

    Also raised by aiohcs itself when this process cannot get a descriptor or memory for
    a call (then ``errno`` is the POSIX error, e.g. ``errno.EMFILE``; else None). Nothing
    is left running or open; the same call succeeds once resources are free again.
    """

    errno: int | None = None

    @classmethod
    def from_os_error(
        cls,
        exc: OSError,
        *,
        operation: str | None = None,
        system_id: str | None = None,
        process_id: int | None = None,
    ) -> ResourceExhausted:
        """The error for an ``OSError`` of this process (EMFILE, ENFILE, ENOMEM)."""
        code = exc.errno or 0
        name = _errno.errorcode.get(code, str(code))
        hr = HResult.E_OUTOFMEMORY if code == _errno.ENOMEM else HResult.ERROR_TOO_MANY_OPEN_FILES
        text = exc.strerror or str(exc)
        error = cls(
            hr,
            f"{text} (errno {code}, {name})",
            operation=operation,
            system_id=system_id,
            process_id=process_id,
        )
        error.errno = code
        return error


#: errno values of an ``OSError`` that mean "out of descriptors or memory".
RESOURCE_ERRNOS: Final = frozenset((_errno.EMFILE, _errno.ENFILE, _errno.ENOMEM))


class HcsNotAvailableError(ImportError):
    """This host has no Host Compute Service (computecore.dll cannot be loaded)."""


class UsedAfterForkError(RuntimeError):
    """An aiohcs object or event loop inherited across ``os.fork()`` was used in the child.

    A forked child starts with none of its parent's HCS handles, bridge threads or event
    loops: objects created in the parent (systems, processes, event streams) and an event
    loop that was running in the parent cannot be used there. Start a new event loop in
    the child and create or open what it needs anew.
    """


class InvalidArgumentError(ValueError):
    """An argument cannot be passed to HCS as it is (e.g. a string with a NUL or a lone surrogate).

    Raised by aiohcs itself before anything reaches HCS. It is the base of every bad-input
    error of aiohcs: catching it catches :class:`InvalidArgumentTypeError` and
    :class:`InvalidDocumentError` too.
    """


class InvalidArgumentTypeError(InvalidArgumentError, TypeError):
    """An argument has the wrong type (``None`` or an ``int`` where an id string goes, ...).

    Both a :class:`TypeError` and an :class:`InvalidArgumentError`. Raised before anything
    reaches HCS.
    """


class InvalidDocumentError(InvalidArgumentError):
    """A document argument does not validate against its HCS schema type.

    Raised by aiohcs before anything reaches HCS. ``path`` is the JSON path of the first
    bad member (``"VirtualMachine.ComputeTopology.Memory.SizeInMB"``; ``""`` for the whole
    document), ``type_name`` the schema type expected, ``errors`` every problem as
    ``(path, message)`` pairs.
    """

    def __init__(
        self, type_name: str, errors: list[tuple[str, str]], *, argument: str | None = None
    ) -> None:
        self.type_name = type_name
        self.errors = errors
        self.argument = argument
        self.path = errors[0][0] if errors else ""
        first = errors[0][1] if errors else "invalid document"
        where = f" at {self.path}" if self.path else ""
        what = f"{argument} ({type_name})" if argument else type_name
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"invalid {what}{where}: {first}{more}")


# Low word of a facility-0x37 HRESULT → class.
_BY_HCS_CODE: Final[Mapping[int, type[HcsError]]] = {
    HResult.HCS_E_INVALID_STATE & 0xFFFF: InvalidState,
    HResult.HCS_E_INVALID_JSON & 0xFFFF: InvalidJson,
    HResult.HCS_E_SYSTEM_NOT_FOUND & 0xFFFF: SystemNotFound,
    HResult.HCS_E_SYSTEM_ALREADY_EXISTS & 0xFFFF: SystemAlreadyExists,
    HResult.HCS_E_SYSTEM_ALREADY_STOPPED & 0xFFFF: SystemAlreadyStopped,
    HResult.HCS_E_OPERATION_TIMEOUT & 0xFFFF: OperationTimeout,
    HResult.HCS_E_ACCESS_DENIED & 0xFFFF: AccessDenied,
    HResult.HCS_E_SERVICE_DISCONNECT & 0xFFFF: ServiceDisconnected,
    HResult.HCS_E_PROCESS_ALREADY_STOPPED & 0xFFFF: ProcessAlreadyStopped,
}

# Whole HRESULTs of other facilities → class.
_BY_HRESULT: Final[Mapping[int, type[HcsError]]] = {
    HResult.ERROR_NOT_FOUND: ProcessNotFound,
    HResult.E_ACCESSDENIED: AccessDenied,
    HResult.ERROR_PROC_NOT_FOUND: UnsupportedOnThisHost,
    HResult.ERROR_TOO_MANY_OPEN_FILES: ResourceExhausted,
    HResult.E_OUTOFMEMORY: ResourceExhausted,
    HResult.ERROR_NOT_ENOUGH_MEMORY: ResourceExhausted,
}


def error_class(hr: int) -> type[HcsError]:
    """Return the exception class for ``hr`` (signed or unsigned); :class:`HcsError` if none."""
    hr = hresult_u32(hr)
    if _is_hcs_facility(hr):
        return _BY_HCS_CODE.get(hr & 0xFFFF, HcsError)
    return _BY_HRESULT.get(hr, HcsError)


def error_from_hresult(
    hr: int,
    message: str | None = None,
    *,
    document: str | bytes | Mapping[str, Any] | None = None,
    operation: str | int | None = None,
    system_id: str | None = None,
    process_id: int | None = None,
) -> HcsError:
    """Build the exception for ``hr`` with whatever context is known.

    ``document`` is the failure document HCS returned (ResultError JSON); it is parsed
    leniently — a malformed one is kept as text and never makes this function raise.
    ``operation`` is an operation type name or HCS_OPERATION_TYPE value.
    """
    cls = error_class(hr)
    return cls(
        hr,
        message,
        document=document,
        operation=operation,
        system_id=system_id,
        process_id=process_id,
    )


class HandleClosedError(HcsError):
    """The object (compute system, process) was closed: no further calls are accepted.

    Also raised in tasks whose operation was still in flight when the object was closed
    (the HCS work itself goes on; see :mod:`aiohcs.operation`). HRESULT ``E_HANDLE``.
    """

    def __init__(
        self,
        hresult: int = int(HResult.E_HANDLE),
        message: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(hresult, message or "the handle has been closed", **kwargs)


class BridgeClosedError(RuntimeError):
    """The event loop this object belongs to has shut down (its bridge is closed)."""


class NoThreadError(RuntimeError):
    """No bridge thread could be started for a native call (the call was not made)."""


__all__ += ["BridgeClosedError", "HandleClosedError", "NoThreadError"]
