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

The HRESULT names and meanings (:class:`HResult`, :class:`HResultValue`,
:func:`hresult_name`, ...) live in ``aiohcs._hresult`` and are re-exported here.

This module is imported by ``import aiohcs``: it must stay light (no cffi, no pydantic).
"""

from __future__ import annotations

import errno as _errno
from collections.abc import Mapping
from typing import Any, Final

from aiohcs._hresult import (
    HCN_FACILITY,
    OPERATION_TYPE_NAMES,
    WIN32_FACILITY,
    HResult,
    HResultValue,
    describe,
    facility,
    hresult_name,
    hresult_u32,
    is_hcs_facility,
    operation_name,
)

__all__ = [
    "OPERATION_TYPE_NAMES",
    "AccessDenied",
    "AddressUnavailable",
    "AlreadyExists",
    "BridgeClosedError",
    "HResult",
    "HResultValue",
    "HandleClosedError",
    "HcsError",
    "HcsNotAvailableError",
    "HcsimServiceError",
    "HcsimServiceRunning",
    "HcsimServiceUnavailable",
    "HcsimSocketPathError",
    "InUse",
    "InvalidArgumentError",
    "InvalidArgumentTypeError",
    "InvalidDocumentError",
    "InvalidJson",
    "InvalidState",
    "MalformedResult",
    "NoThreadError",
    "NotFound",
    "OperationTimeout",
    "PipesNotClosed",
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
    "hcn_error_from_hresult",
    "hresult_name",
    "hresult_u32",
]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _parse_result_error(document: str | bytes | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Parse a ResultError document leniently: anything that is not a JSON object → None."""
    if document is None:
        return None
    if isinstance(document, Mapping):
        return dict(document)
    from aiohcs import _json  # (only failures with a document pay for importing json)

    return _json.read_object(document)


class HcsError(Exception):
    """An HCS call failed. Base of every HRESULT-derived error, and the catch-all.

    Attributes:
        hresult: the HRESULT as an unsigned 32-bit number (an :class:`HResultValue`).
        name: its symbolic name ("HCS_E_INVALID_STATE", "E_ACCESSDENIED", or "0x8007xxxx").
        message: HCS's ErrorMessage if it sent one, else the documented meaning.
        document: the raw failure document as HCS returned it (or None).
        result_error: the parsed ResultError document as a dict (None if absent/malformed).
        error_events: ResultError.ErrorEvents (dicts with Message, Data, ...), possibly [].
        operation: the operation type name ("Start", "Create", ...) or the function
            ("HcnCreateNetwork") if known.
        system_id / process_id: the compute system / process concerned, if known.
        subject: the object concerned when it is not a system or process
            ("network 0f5a...", "endpoint ..."), else None.
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
    subject: str | None = None

    def __init__(
        self,
        hresult: int,
        message: str | None = None,
        *,
        document: str | bytes | Mapping[str, Any] | None = None,
        operation: str | int | None = None,
        system_id: str | None = None,
        process_id: int | None = None,
        subject: str | None = None,
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
            message = describe(self.hresult)
        self.message = message
        self.operation = operation_name(operation)
        self.system_id = system_id
        self.process_id = process_id
        self.subject = subject
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
        return facility(self.hresult)

    @property
    def code(self) -> int:
        """The low 16 bits of the HRESULT."""
        return self.hresult & 0xFFFF

    @property
    def win32_error(self) -> int | None:
        """The Win32 error code for a facility-7 failure (HRESULT_FROM_WIN32), else None."""
        if self.hresult & 0x80000000 and self.facility == WIN32_FACILITY:
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
        elif self.subject is not None:
            target = self.subject
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


class AlreadyExists(HcsError):
    """An object with that id already exists, or is already attached where it was asked to go.

    HCN: HCN_E_*_ALREADY_EXISTS, HCN_E_ENDPOINT_ALREADY_ATTACHED,
    HCN_E_ENDPOINT_NAMESPACE_ALREADY_EXISTS. Compute systems raise its subclass
    :class:`SystemAlreadyExists`.
    """


class SystemAlreadyExists(AlreadyExists):
    """A compute system with that id already exists (HCS_E_SYSTEM_ALREADY_EXISTS)."""


class InUse(HcsError):
    """The object is still referenced and cannot be deleted (HCN_E_ENTITY_HAS_REFERENCES).

    A network with endpoints, an endpoint a load balancer names, ...
    """


class AddressUnavailable(HcsError):
    """HNS refused an endpoint's explicit IP address.

    HCN_E_ADDR_INVALID_OR_RESERVED or HCN_E_INVALID_IP from an Hcn call.
    The address is outside the network's subnets, reserved (the network, broadcast or
    gateway address) or another endpoint's. An address outside every subnet of the network
    is refused by aiohcs before anything is sent, with
    :class:`InvalidDocumentError`, when the call knows the network.
    """


class InvalidState(HcsError):
    """The request is not valid in the system's current state (HCS_E_INVALID_STATE)."""


class SystemAlreadyStopped(HcsError):
    """The compute system is not running any more (HCS_E_SYSTEM_ALREADY_STOPPED)."""


class ProcessAlreadyStopped(HcsError):
    """The process has already exited (HCS_E_PROCESS_ALREADY_STOPPED)."""


class MalformedResult(HcsError):
    """A call succeeded but what it returned cannot be read (not JSON, or not its shape).

    Raised by aiohcs itself, never by the host: ``operation`` names the call
    ("HcnQueryNetworkProperties"), ``document`` is the text as returned. HRESULT
    ``ERROR_INVALID_DATA``.
    """

    def __init__(
        self,
        hresult: int = int(HResult.ERROR_INVALID_DATA),
        message: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(hresult, message or "the call's result cannot be read", **kwargs)

    @classmethod
    def of(cls, call: str, text: str, *, subject: str | None = None, what: str) -> MalformedResult:
        """The error for ``call``'s result ``text``, which is not ``what``."""
        shown = text if len(text) <= 80 else text[:77] + "..."
        error = cls(
            message=f"{call} returned {shown!r}, not {what}", operation=call, subject=subject
        )
        error.document = text
        return error


class NotFound(HcsError):
    """The object a call names does not exist (HRESULT_FROM_WIN32(ERROR_NOT_FOUND)).

    Raised as such by the host-resource calls (a layer filter that is not attached, ...);
    compute-process calls raise its subclass :class:`ProcessNotFound`.
    """


class ProcessNotFound(NotFound):
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
        subject: str | None = None,
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
            subject=subject,
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


class HcsimServiceError(Exception):
    """hcsim's service mode (``aiohcs hcsim serve``, ``AIOHCS_HCSIM``) failed.

    Attributes:
        socket: the path of the service's Unix socket.
        hresult: the HRESULT of the failed control call, or None (checked before any call).
    """

    def __init__(self, message: str, *, socket: str, hresult: int | None = None) -> None:
        super().__init__(message)
        self.socket = socket
        self.hresult = None if hresult is None else HResultValue(hresult)


class HcsimServiceUnavailable(HcsimServiceError, HcsNotAvailableError):
    """No usable hcsim service at the socket: none is running, or it refused this process.

    Raised by ``import aiohcs.system`` (or any import of the binding) when ``AIOHCS_HCSIM``
    names a socket that does not answer; also an :class:`HcsNotAvailableError`.
    """


class HcsimServiceRunning(HcsimServiceError):
    """``aiohcs hcsim serve``: a live service already answers on the socket."""


class HcsimSocketPathError(HcsimServiceError, ValueError):
    """The socket path cannot be used: too long for a Unix socket, or in an unsafe folder."""


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
    if is_hcs_facility(hr):
        return _BY_HCS_CODE.get(hr & 0xFFFF, HcsError)
    if hr & 0x80000000 and facility(hr) == HCN_FACILITY:  # (HCS passes HCN's errors on)
        return _BY_HCN_CODE.get(hr & 0xFFFF, HcsError)
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


# Low word of an HCN HRESULT (facility 0x3B) → class: what was named does not exist, is
# already there, is still referenced, its document is malformed, or its address is refused.
_HCN_NOT_FOUND: Final = frozenset(
    (*range(0x01, 0x0A), 0x1F, 0x21, 0x26, 0x27, 0x28)  # HCN_E_*_NOT_FOUND, GCN_E_*_NOT_FOUND
)
_HCN_ALREADY_EXISTS: Final = frozenset((*range(0x10, 0x15), 0x29, 0x2B))
_BY_HCN_CODE: Final[Mapping[int, type[HcsError]]] = {
    **dict.fromkeys(_HCN_NOT_FOUND, NotFound),
    **dict.fromkeys(_HCN_ALREADY_EXISTS, AlreadyExists),
    HResult.HCN_E_ENTITY_HAS_REFERENCES & 0xFFFF: InUse,
    HResult.HCN_E_INVALID_JSON & 0xFFFF: InvalidJson,
    HResult.HCN_E_ADDR_INVALID_OR_RESERVED & 0xFFFF: AddressUnavailable,
    HResult.HCN_E_INVALID_IP & 0xFFFF: AddressUnavailable,
}

# Whole HRESULTs of other facilities from an Hcn call → class (else as for HCS).
_BY_HCN_HRESULT: Final[Mapping[int, type[HcsError]]] = {
    # A namespace or load balancer that does not exist (hcsshim: "element not found").
    HResult.ERROR_NOT_FOUND: NotFound,
    # A namespace or load balancer id that is taken (hcsim: HRESULT_FROM_WIN32 of it).
    HResult.ERROR_ALREADY_EXISTS: AlreadyExists,
    # An endpoint id that is taken, as HNS has been seen to answer it
    # (kubernetes/kubernetes#74766; hcsim/README.md, "Host Compute Network").
    HResult.ERROR_OBJECT_ALREADY_EXISTS: AlreadyExists,
    # An IPAM pool with no free address left (hcsim's choice: hcsim/README.md).
    HResult.ERROR_NO_MORE_ITEMS: ResourceExhausted,
}


def hcn_error_class(hr: int) -> type[HcsError]:
    """Return the exception class for ``hr`` returned by an Hcn (computenetwork) function."""
    hr = hresult_u32(hr)
    if hr & 0x80000000 and facility(hr) == HCN_FACILITY:
        return _BY_HCN_CODE.get(hr & 0xFFFF, HcsError)
    return _BY_HCN_HRESULT.get(hr) or error_class(hr)


def hcn_error_from_hresult(
    hr: int,
    *,
    call: str,
    subject: str | None = None,
    document: str | bytes | Mapping[str, Any] | None = None,
) -> HcsError:
    """Build the exception of a failed Hcn call.

    ``call`` ("HcnCreateNetwork") failed with ``hr`` on ``subject`` ("network 0f5a..."),
    with HCN's ErrorRecord ``document`` (parsed leniently, as HCS's ResultError).
    """
    cls = hcn_error_class(hr)
    return cls(hr, document=document, operation=call, subject=subject)


class PipesNotClosed(RuntimeWarning):
    """A process exited but its output pipes stayed open past the grace period.

    Something in the guest (a background child) still holds them. The exit was reported
    anyway; output written later can still be read from the streams. (A warning, issued by
    :meth:`aiohcs.process.Process.wait`; importable from :mod:`aiohcs.process` too.)
    """


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
