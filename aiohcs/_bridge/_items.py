"""What the C queue carries: the item kinds and flags, :class:`Item`, and its targets."""

from __future__ import annotations

import sys
from typing import Final, NamedTuple, Protocol

from aiohcs._native import lib

__all__ = [
    "ITEM_CALL",
    "ITEM_COMPLETION",
    "ITEM_EVENT",
    "Item",
    "ProcessInfo",
    "Target",
    "is_invalid_handle",
    "now_ns",
]

ITEM_COMPLETION: Final[int] = lib.AIOHCS_ITEM_COMPLETION
ITEM_EVENT: Final[int] = lib.AIOHCS_ITEM_EVENT
ITEM_CALL: Final[int] = lib.AIOHCS_ITEM_CALL
PAYLOAD_LOST: Final[int] = lib.AIOHCS_ITEM_PAYLOAD_LOST
HAS_PROCESS_INFO: Final[int] = lib.AIOHCS_ITEM_HAS_PROCESS_INFO
HAS_SYSTEM: Final[int] = lib.AIOHCS_ITEM_HAS_SYSTEM
HAS_OPERATION: Final[int] = lib.AIOHCS_ITEM_HAS_OPERATION
#: Items that carry a handle in ``std_input`` for :attr:`Item.handle`.
HAS_HANDLE: Final[int] = HAS_SYSTEM | HAS_OPERATION
#: Kinds of native calls (blocking HCS calls on the bridge's C threads; see run_native).
CALL_CREATE_SYSTEM: Final[int] = lib.AIOHCS_CALL_CREATE_SYSTEM
CALL_CREATE_SYSTEM_PLAIN: Final[int] = lib.AIOHCS_CALL_CREATE_SYSTEM_PLAIN
CALL_OPEN_SYSTEM: Final[int] = lib.AIOHCS_CALL_OPEN_SYSTEM
CALL_CLOSE_SYSTEM: Final[int] = lib.AIOHCS_CALL_CLOSE_SYSTEM
CALL_CLOSE_PROCESS: Final[int] = lib.AIOHCS_CALL_CLOSE_PROCESS
REGISTER_PROCESS_INFO: Final[int] = lib.AIOHCS_REGISTER_PROCESS_INFO
REGISTER_ONESHOT: Final[int] = lib.AIOHCS_REGISTER_ONESHOT
REGISTER_POSTED: Final[int] = lib.AIOHCS_REGISTER_POSTED
REGISTER_PROGRESS: Final[int] = lib.AIOHCS_REGISTER_PROGRESS


class ProcessInfo(NamedTuple):
    """HCS_PROCESS_INFORMATION of a CreateProcess/GetProcessInfo completion.

    The std handles are caller-owned HANDLE values (0 when absent); whoever receives them
    must ``CloseHandle`` them.
    """

    process_id: int
    std_input: int
    std_output: int
    std_error: int


class Item(NamedTuple):
    """One item drained from the C queue."""

    id: int
    kind: int
    result: int
    event_type: int
    payload: str | None
    payload_lost: bool
    process_info: ProcessInfo | None
    operation: int
    timestamp_ns: int
    #: Native calls: the HCS_SYSTEM the call produced; completions of operations with
    #: progress: the still open HCS_OPERATION (0 if none; the receiver owns it).
    handle: int = 0
    #: Native calls: the HRESULT of the event callback registration.
    callback_result: int = 0


class Target(Protocol):
    """What an id is registered for (an operation waiter, a handle's event hub)."""

    def _deliver(self, item: Item) -> None:
        """Handle one item for this id (runs on the loop; must not block)."""

    def _bridge_closed(self) -> None:
        """The loop is shutting down: resolve every waiter (runs at most once)."""


def now_ns() -> int:
    """The bridge's monotonic clock (the clock of ``Item.timestamp_ns``), in nanoseconds."""
    value: int = lib.aiohcs_now_ns()
    return value


# A Windows HANDLE is a pointer. The bridge hands HANDLE values to Python as
# ``int(ffi.cast("uintptr_t", h))``, so INVALID_HANDLE_VALUE ((HANDLE)-1) arrives as the
# all-ones value of the pointer width (2**64-1 on 64-bit, 2**32-1 on 32-bit builds; the
# pointer width is that of Py_ssize_t, hence sys.maxsize). -1 is the same value where it
# went through a signed type; 0 is NULL, "no handle". 0xFFFFFFFF is INVALID_HANDLE_VALUE
# after a trip through a 32-bit DWORD (as a handle value in a document would be); no real
# handle has it (kernel handles are multiples of 4), so it counts as "no handle" too.
_INVALID_HANDLES: Final = frozenset((0, -1, 0xFFFFFFFF, sys.maxsize * 2 + 1))


def is_invalid_handle(handle: int) -> bool:
    """True if the HANDLE value ``handle`` means "no handle" (NULL or INVALID_HANDLE_VALUE)."""
    return handle in _INVALID_HANDLES
