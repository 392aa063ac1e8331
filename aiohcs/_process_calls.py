"""Calls on a process handle that no :class:`~aiohcs.process.Process` owns (yet, or any more).

:func:`create_process_handle` creates a process (``HcsCreateProcess``, its event callback
registered before it can run) and never leaves a half-created one: a process whose create
failed half-way is asked for its information (:func:`recover_process_info`) or stopped
(:func:`terminate_unwatched`). ``kill()`` asks the process behind its fresh handle for
its status (:func:`process_status`).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohcs import errors
from aiohcs._bridge import close_process_handles, current_bridge
from aiohcs._documents import parse_model
from aiohcs._handle import PROCESS, PendingHandle, run_shielded
from aiohcs._native import ffi, lib
from aiohcs._process_parent import ProcessParent
from aiohcs.errors import HResult
from aiohcs.operation import run_operation

if TYPE_CHECKING:
    from aiohcs._bridge import ProcessInfo
    from aiohcs.schema import ProcessStatus

__all__ = [
    "create_process_handle",
    "parse_status",
    "process_status",
    "recover_process_info",
    "terminate_unwatched",
]

#: What asks a process handle for its information after a failed create.
Recover = Callable[[Any, str, Exception], Awaitable["ProcessInfo"]]


def parse_status(document: str | None) -> ProcessStatus:
    status: ProcessStatus | None = parse_model(document, "ProcessStatus")
    if status is None:
        from aiohcs.schema import ProcessStatus

        status = ProcessStatus()
    return status


async def process_status(handle: Any, system_id: str, pid: int) -> ProcessStatus:
    """The ProcessStatus of the process behind ``handle`` (one the caller owns)."""

    def start(op: Any) -> int:
        hr: int = lib.HcsGetProcessProperties(handle, op, ffi.NULL)
        return hr

    result = await run_operation(
        start, operation="GetProcessProperties", system_id=system_id, process_id=pid
    )
    return parse_status(result.document)


async def terminate_unwatched(handle: Any, system_id: str) -> None:
    """Terminate a just-created process that is given up (best effort)."""

    def start(op: Any) -> int:
        hr: int = lib.HcsTerminateProcess(handle, op, ffi.NULL)
        return hr

    with contextlib.suppress(errors.HcsError):
        await run_operation(start, operation="TerminateProcess", system_id=system_id, cleanup=True)


async def recover_process_info(handle: Any, system_id: str, error: Exception) -> ProcessInfo:
    """Ask a process handle for its information after a failed create; re-raise ``error``."""

    def start(op: Any) -> int:
        hr: int = lib.HcsGetProcessInfo(handle, op)
        return hr

    try:
        result = await run_operation(
            start, operation="GetProcessInfo", system_id=system_id, process_info=True
        )
    except errors.HcsError:
        result = None
    if result is None or result.process_info is None:
        # It may run (e.g. only its pipe handles could not be made): never leave it.
        await terminate_unwatched(handle, system_id)
        raise error from None
    return result.process_info


async def create_process_handle(
    system: ProcessParent, w_params: Any, recover: Recover
) -> tuple[PendingHandle, ProcessInfo, BaseException | None]:
    """HcsCreateProcess with its event callback registered; the caller's cancellation too.

    Creating a process is quick, and a half-created one must not leak: it runs to its end
    whatever cancels the caller (native asyncio cancellation too); that cancellation is
    returned for the caller to raise once the process is taken care of. ``recover``:
    :func:`recover_process_info` (what asks a process for its information after a failed
    create).
    """
    sys_handle = system._require_handle()
    async with PendingHandle(PROCESS, current_bridge()) as pending:

        def start(op: Any) -> int:
            hr: int = lib.HcsCreateProcess(sys_handle, w_params, op, ffi.NULL, pending.out)
            if hr >= 0:
                # Registered before the process can run: its exit cannot be missed.
                pending.register()
            return hr

        create = functools.partial(_create_watched, system, pending, start, recover)
        info, cancelled = await run_shielded(create)
        if info is None:
            if cancelled is not None:
                raise cancelled
            pending.check_registered(system_id=system.id)
            raise errors.error_from_hresult(
                HResult.HCS_E_PROCESS_INFO_NOT_AVAILABLE,
                operation="CreateProcess",
                system_id=system.id,
            )
    return pending, info, cancelled


async def _create_watched(
    system: ProcessParent, pending: PendingHandle, start: Callable[[Any], int], recover: Recover
) -> ProcessInfo | None:
    """Run the create; its information, or None once a process nobody can watch is stopped."""
    info: ProcessInfo | None = None
    try:
        result = await run_operation(
            start,
            operation="CreateProcess",
            system_id=system.id,
            process_info=True,
            owner=system._ops,
        )
        info = result.process_info
    except errors.HcsError as exc:
        if pending.handle is None:
            raise
        # WS2022 quirk (HCS contract §8.2): the wait can fail spuriously although
        # the process exists; its information tells.
        info = await recover(pending.handle, system.id, exc)
    if pending.callback_hr < 0 or info is None:
        # It runs, but cannot be watched (or its pipes are unknown): stop it.
        close_process_handles(info)
        await terminate_unwatched(pending.handle, system.id)
        return None
    return info
