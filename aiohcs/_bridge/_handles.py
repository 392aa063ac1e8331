"""Closing what nobody takes: pipe handles of process information, produced handles."""

from __future__ import annotations

from typing import Any

from aiohcs._bridge._holds import close_operation
from aiohcs._bridge._items import (
    CALL_CLOSE_SYSTEM,
    ITEM_COMPLETION,
    Item,
    ProcessInfo,
    is_invalid_handle,
)
from aiohcs._bridge._workers import run_detached
from aiohcs._native import ffi, lib

__all__ = ["close_detached", "close_in_worker", "close_process_handles", "release_handle"]


def close_process_handles(info: ProcessInfo | None) -> None:
    """Close the caller-owned std handles of ``info`` (for results nobody will take)."""
    if info is None:
        return
    for handle in (info.std_input, info.std_output, info.std_error):
        if not is_invalid_handle(handle):
            lib.CloseHandle(ffi.cast("HANDLE", handle))


def close_detached(kind: int, handle: Any) -> None:
    """Close ``handle`` (``kind``: CALL_CLOSE_SYSTEM / CALL_CLOSE_PROCESS) on a bridge thread.

    Nobody waits for it; from any thread (finalizers, shutdown paths).
    """
    if not lib.aiohcs_call_submit(kind, 0, ffi.NULL, handle, ffi.NULL, ffi.NULL, ffi.NULL, 0):
        close_in_worker(kind, handle)


def close_in_worker(kind: int, handle: Any) -> None:
    """The close of :func:`close_detached` when no bridge thread can take it."""
    close = lib.HcsCloseComputeSystem if kind == CALL_CLOSE_SYSTEM else lib.HcsCloseProcess
    run_detached(close, handle)


def release_handle(item: Item) -> None:
    """Close the handle an item carries, for an item nobody takes.

    The system handle a native call produced (on a bridge thread), or the operation a
    completion of an operation with progress hands over (closed at once: no RPC; once
    the last query that holds it has ended, see _holds.py).
    """
    if not item.handle:
        return
    if item.kind == ITEM_COMPLETION:
        close_operation(item.handle)
    else:
        close_detached(CALL_CLOSE_SYSTEM, ffi.cast("HCS_SYSTEM", item.handle))
