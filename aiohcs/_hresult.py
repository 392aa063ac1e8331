"""HRESULTs by name: the :class:`HResult` enum, their meanings, and :class:`HResultValue`.

The vocabulary of :mod:`aiohcs.errors` (which re-exports every public name here): the
symbolic names and one-line meanings of the HRESULTs HCS returns, the names of the
HCS_OPERATION_TYPE values, and the HRESULT-as-unsigned-number helpers. HCS errors are
recognised by their facility (0x37) in both their computecore form (0x8037xxxx) and their
legacy vmcompute form (0xC037xxxx).

Imported by ``import aiohcs``: it must stay light (no cffi, no pydantic).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final

__all__ = [
    "HCN_FACILITY",
    "HCS_FACILITY",
    "OPERATION_TYPE_NAMES",
    "WIN32_FACILITY",
    "HResult",
    "HResultValue",
    "describe",
    "facility",
    "hresult_name",
    "hresult_u32",
    "is_hcs_facility",
    "operation_name",
]

#: The facility of HCS's own HRESULTs (HCS_E_*), of HCN's (HCN_E_*, GCN_E_*), and of
#: HRESULT_FROM_WIN32 values.
HCS_FACILITY: Final = 0x37
HCN_FACILITY: Final = 0x3B
WIN32_FACILITY: Final = 0x7


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
    ERROR_GEN_FAILURE = 0x8007001F
    ERROR_SHARING_VIOLATION = 0x80070020
    ERROR_NOT_SUPPORTED = 0x80070032
    ERROR_FILE_EXISTS = 0x80070050
    E_INVALIDARG = 0x80070057
    ERROR_DISK_FULL = 0x80070070
    ERROR_PROC_NOT_FOUND = 0x8007007F
    ERROR_DIR_NOT_EMPTY = 0x80070091
    ERROR_ALREADY_EXISTS = 0x800700B7
    ERROR_FILENAME_EXCED_RANGE = 0x800700CE
    ERROR_FILE_TOO_LARGE = 0x800700DF
    WAIT_TIMEOUT = 0x80070102
    ERROR_NO_MORE_ITEMS = 0x80070103
    ERROR_SERVICE_DOES_NOT_EXIST = 0x80070424
    ERROR_SERVICE_NOT_ACTIVE = 0x80070426
    ERROR_NOT_FOUND = 0x80070490
    ERROR_TIMEOUT = 0x800705B4
    RPC_S_SERVER_UNAVAILABLE = 0x800706BA
    RPC_S_CALL_FAILED = 0x800706BE
    ERROR_OBJECT_ALREADY_EXISTS = 0x80071392

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

    # Host Compute Network (computenetwork.dll, winerror.h: FACILITY 0x3B).
    HCN_E_NETWORK_NOT_FOUND = 0x803B0001
    HCN_E_ENDPOINT_NOT_FOUND = 0x803B0002
    HCN_E_LAYER_NOT_FOUND = 0x803B0003
    HCN_E_SWITCH_NOT_FOUND = 0x803B0004
    HCN_E_SUBNET_NOT_FOUND = 0x803B0005
    HCN_E_ADAPTER_NOT_FOUND = 0x803B0006
    HCN_E_PORT_NOT_FOUND = 0x803B0007
    HCN_E_POLICY_NOT_FOUND = 0x803B0008
    HCN_E_VFP_PORTSETTING_NOT_FOUND = 0x803B0009
    HCN_E_INVALID_NETWORK = 0x803B000A
    HCN_E_INVALID_NETWORK_TYPE = 0x803B000B
    HCN_E_INVALID_ENDPOINT = 0x803B000C
    HCN_E_INVALID_POLICY = 0x803B000D
    HCN_E_INVALID_POLICY_TYPE = 0x803B000E
    HCN_E_INVALID_REMOTE_ENDPOINT_OPERATION = 0x803B000F
    HCN_E_NETWORK_ALREADY_EXISTS = 0x803B0010
    HCN_E_LAYER_ALREADY_EXISTS = 0x803B0011
    HCN_E_POLICY_ALREADY_EXISTS = 0x803B0012
    HCN_E_PORT_ALREADY_EXISTS = 0x803B0013
    HCN_E_ENDPOINT_ALREADY_ATTACHED = 0x803B0014
    HCN_E_REQUEST_UNSUPPORTED = 0x803B0015
    HCN_E_MAPPING_NOT_SUPPORTED = 0x803B0016
    HCN_E_DEGRADED_OPERATION = 0x803B0017
    HCN_E_SHARED_SWITCH_MODIFICATION = 0x803B0018
    HCN_E_GUID_CONVERSION_FAILURE = 0x803B0019
    HCN_E_REGKEY_FAILURE = 0x803B001A
    HCN_E_INVALID_JSON = 0x803B001B
    HCN_E_INVALID_JSON_REFERENCE = 0x803B001C
    HCN_E_ENDPOINT_SHARING_DISABLED = 0x803B001D
    HCN_E_INVALID_IP = 0x803B001E
    HCN_E_SWITCH_EXTENSION_NOT_FOUND = 0x803B001F
    HCN_E_MANAGER_STOPPED = 0x803B0020
    GCN_E_MODULE_NOT_FOUND = 0x803B0021
    GCN_E_NO_REQUEST_HANDLERS = 0x803B0022
    GCN_E_REQUEST_UNSUPPORTED = 0x803B0023
    GCN_E_RUNTIMEKEYS_FAILED = 0x803B0024
    GCN_E_NETADAPTER_TIMEOUT = 0x803B0025
    GCN_E_NETADAPTER_NOT_FOUND = 0x803B0026
    GCN_E_NETCOMPARTMENT_NOT_FOUND = 0x803B0027
    GCN_E_NETINTERFACE_NOT_FOUND = 0x803B0028
    GCN_E_DEFAULTNAMESPACE_EXISTS = 0x803B0029
    HCN_E_ICS_DISABLED = 0x803B002A
    HCN_E_ENDPOINT_NAMESPACE_ALREADY_EXISTS = 0x803B002B
    HCN_E_ENTITY_HAS_REFERENCES = 0x803B002C
    HCN_E_INVALID_INTERNAL_PORT = 0x803B002D
    HCN_E_NAMESPACE_ATTACH_FAILED = 0x803B002E
    HCN_E_ADDR_INVALID_OR_RESERVED = 0x803B002F

    # Legacy vmcompute.dll codes whose low word HCS_E_* does not use.
    ERROR_VMCOMPUTE_OPERATION_PENDING = 0xC0370103
    ERROR_VMCOMPUTE_TOO_MANY_NOTIFICATIONS = 0xC0370104

    # virtdisk's own Win32 codes (FACILITY_VIRTUALIZATION, 0xC03A), as they are.
    ERROR_VHD_FORMAT_UNKNOWN = 0xC03A0004
    ERROR_VHD_INVALID_BLOCK_SIZE = 0xC03A000B
    ERROR_VHD_INVALID_SIZE = 0xC03A0012
    ERROR_VIRTDISK_PROVIDER_NOT_FOUND = 0xC03A0014
    ERROR_VIRTDISK_NOT_VIRTUAL_DISK = 0xC03A0015
    ERROR_VHD_INVALID_STATE = 0xC03A001C
    ERROR_VIRTDISK_UNSUPPORTED_DISK_SECTOR_SIZE = 0xC03A001D


# One-line meanings, paraphrased from the HCS documentation (HCS contract §9). Used as
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
    HResult.ERROR_INVALID_DATA: "The data is invalid",
    HResult.E_OUTOFMEMORY: "Out of memory",
    HResult.ERROR_GEN_FAILURE: "A device attached to the system is not functioning",
    HResult.ERROR_SHARING_VIOLATION: "The file is in use by another process",
    HResult.ERROR_NOT_SUPPORTED: "The request is not supported",
    HResult.ERROR_FILE_EXISTS: "The file exists",
    HResult.E_INVALIDARG: "An argument is invalid",
    HResult.ERROR_DISK_FULL: "There is not enough space on the disk",
    HResult.ERROR_PROC_NOT_FOUND: "The function is not exported by this Windows build",
    HResult.ERROR_DIR_NOT_EMPTY: "The directory is not empty",
    HResult.ERROR_ALREADY_EXISTS: "The object already exists",
    HResult.ERROR_FILENAME_EXCED_RANGE: "The file name or extension is too long",
    HResult.ERROR_FILE_TOO_LARGE: "The file size exceeds the limit allowed and cannot be saved",
    HResult.WAIT_TIMEOUT: "The wait timed out",
    HResult.ERROR_NO_MORE_ITEMS: "No more data is available",
    HResult.ERROR_SERVICE_DOES_NOT_EXIST: "The service does not exist",
    HResult.ERROR_SERVICE_NOT_ACTIVE: "The service is not running",
    HResult.ERROR_NOT_FOUND: "Element not found (the object is gone or unknown)",
    HResult.ERROR_TIMEOUT: "The operation timed out",
    HResult.RPC_S_SERVER_UNAVAILABLE: "The RPC server is unavailable",
    HResult.RPC_S_CALL_FAILED: "The remote procedure call failed",
    HResult.ERROR_OBJECT_ALREADY_EXISTS: "The object already exists",
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
    HResult.ERROR_VHD_FORMAT_UNKNOWN: "The file format of this virtual hard disk is not recognized",
    HResult.ERROR_VHD_INVALID_BLOCK_SIZE: "The block size is invalid for this virtual hard disk",
    HResult.ERROR_VHD_INVALID_SIZE: "The virtual size is invalid for this virtual hard disk",
    HResult.ERROR_VIRTDISK_PROVIDER_NOT_FOUND: "No virtual disk provider handles this file",
    HResult.ERROR_VIRTDISK_NOT_VIRTUAL_DISK: "The file is not a virtual disk (of this type)",
    HResult.ERROR_VHD_INVALID_STATE: (
        "The operation cannot be performed on the virtual disk in its current state"
    ),
    HResult.ERROR_VIRTDISK_UNSUPPORTED_DISK_SECTOR_SIZE: "The disk's sector size is not supported",
    HResult.HCN_E_NETWORK_NOT_FOUND: "The network was not found",
    HResult.HCN_E_ENDPOINT_NOT_FOUND: "The endpoint was not found",
    HResult.HCN_E_LAYER_NOT_FOUND: "The network's underlying layer was not found",
    HResult.HCN_E_SWITCH_NOT_FOUND: "The virtual switch was not found",
    HResult.HCN_E_SUBNET_NOT_FOUND: "The network has no such subnet",
    HResult.HCN_E_ADAPTER_NOT_FOUND: "The network adapter was not found",
    HResult.HCN_E_PORT_NOT_FOUND: "The switch port was not found",
    HResult.HCN_E_POLICY_NOT_FOUND: "The policy was not found",
    HResult.HCN_E_VFP_PORTSETTING_NOT_FOUND: "The VFP port setting was not found",
    HResult.HCN_E_INVALID_NETWORK: "The network settings are not valid",
    HResult.HCN_E_INVALID_NETWORK_TYPE: "The network type is not valid",
    HResult.HCN_E_INVALID_ENDPOINT: "The endpoint settings are not valid",
    HResult.HCN_E_INVALID_POLICY: "The policy settings are not valid",
    HResult.HCN_E_INVALID_POLICY_TYPE: "The policy type is not valid",
    HResult.HCN_E_INVALID_REMOTE_ENDPOINT_OPERATION: (
        "The operation is not valid on a remote endpoint"
    ),
    HResult.HCN_E_NETWORK_ALREADY_EXISTS: "A network with that id already exists",
    HResult.HCN_E_LAYER_ALREADY_EXISTS: "The layer already exists",
    HResult.HCN_E_POLICY_ALREADY_EXISTS: "The policy already exists",
    HResult.HCN_E_PORT_ALREADY_EXISTS: "The port already exists",
    HResult.HCN_E_ENDPOINT_ALREADY_ATTACHED: "The endpoint is already attached",
    HResult.HCN_E_REQUEST_UNSUPPORTED: "The request is not supported",
    HResult.HCN_E_MAPPING_NOT_SUPPORTED: "The port mapping is not supported",
    HResult.HCN_E_DEGRADED_OPERATION: "The operation completed only in part (degraded)",
    HResult.HCN_E_SHARED_SWITCH_MODIFICATION: (
        "A switch shared with other networks cannot be modified"
    ),
    HResult.HCN_E_GUID_CONVERSION_FAILURE: "A GUID could not be converted",
    HResult.HCN_E_REGKEY_FAILURE: "A registry key could not be read or written",
    HResult.HCN_E_INVALID_JSON: "The JSON document is not valid",
    HResult.HCN_E_INVALID_JSON_REFERENCE: "A reference in the JSON document is not valid",
    HResult.HCN_E_ENDPOINT_SHARING_DISABLED: "Endpoint sharing is disabled",
    HResult.HCN_E_INVALID_IP: "The IP address is not valid",
    HResult.HCN_E_SWITCH_EXTENSION_NOT_FOUND: "The switch extension was not found",
    HResult.HCN_E_MANAGER_STOPPED: "The network manager (HNS) has stopped",
    HResult.GCN_E_MODULE_NOT_FOUND: "The guest network module was not found",
    HResult.GCN_E_NO_REQUEST_HANDLERS: "No guest network request handler is registered",
    HResult.GCN_E_REQUEST_UNSUPPORTED: "The guest network request is not supported",
    HResult.GCN_E_RUNTIMEKEYS_FAILED: "The guest network runtime keys could not be set up",
    HResult.GCN_E_NETADAPTER_TIMEOUT: "The guest network adapter did not appear in time",
    HResult.GCN_E_NETADAPTER_NOT_FOUND: "The guest network adapter was not found",
    HResult.GCN_E_NETCOMPARTMENT_NOT_FOUND: "The guest network compartment was not found",
    HResult.GCN_E_NETINTERFACE_NOT_FOUND: "The guest network interface was not found",
    HResult.GCN_E_DEFAULTNAMESPACE_EXISTS: "A default namespace already exists",
    HResult.HCN_E_ICS_DISABLED: "Internet Connection Sharing is disabled",
    HResult.HCN_E_ENDPOINT_NAMESPACE_ALREADY_EXISTS: "The endpoint is already in a namespace",
    HResult.HCN_E_ENTITY_HAS_REFERENCES: "The object is still referenced by other objects",
    HResult.HCN_E_INVALID_INTERNAL_PORT: "The internal port is not valid",
    HResult.HCN_E_NAMESPACE_ATTACH_FAILED: "The namespace could not be attached",
    HResult.HCN_E_ADDR_INVALID_OR_RESERVED: "The address is not valid or is reserved",
}

#: HCS_OPERATION_TYPE values (HCS contract §2.2) → the names used in messages.
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


def facility(hr: int) -> int:
    """The facility field of ``hr`` (0x37 for HCS, 7 for Win32)."""
    return (hr >> 16) & 0x7FF


def is_hcs_facility(hr: int) -> bool:
    """True for a failure HRESULT of HCS's facility (0x8037xxxx or the legacy 0xC037xxxx)."""
    return bool(hr & 0x80000000) and facility(hr) == HCS_FACILITY


def _canonical(hr: int) -> int:
    """Map the legacy 0xC037xxxx form onto the 0x8037xxxx HCS_E_* value of the same low word."""
    if is_hcs_facility(hr):
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


def describe(hr: int) -> str:
    """The one-line meaning of ``hr`` (unsigned), or ``""`` if it is not a known value."""
    return _DESCRIPTIONS.get(hr) or _DESCRIPTIONS.get(_canonical(hr), "")


def operation_name(operation: str | int | None) -> str | None:
    """An operation type name as given, or the name of an HCS_OPERATION_TYPE value."""
    if operation is None or isinstance(operation, str):
        return operation or None
    return OPERATION_TYPE_NAMES.get(operation, f"operation type {operation}")
