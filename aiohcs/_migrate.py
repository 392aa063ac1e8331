"""Live migration of a compute system: the source and the destination workflows.

The order of the calls is the one microsoft/hcsshim's computecore client follows (the
documents are in :mod:`aiohcs.migration`):

* source: HcsInitializeLiveMigrationOnSource → HcsStartLiveMigrationOnSource (the transport
  socket attached to the operation with HcsAddResourceToOperation) →
  HcsStartLiveMigrationTransfer → HcsFinalizeLiveMigration (``Stop``: the source VM ends);
* destination: a system created with the source's configuration → HcsStartComputeSystem
  with ``DestinationMigrationOptions`` (and the socket attached) →
  HcsStartLiveMigrationTransfer → HcsFinalizeLiveMigration (``Resume``: the VM runs here).

Each step is an ordinary operation of the bridge. The rule: the VM never runs on both
hosts and is never lost. A failure or a cancellation before that side's transfer has
completed runs HcsCancelLiveMigration for it (shielded, whatever cancels the caller; not
for a source whose own Initialize was refused; refused by the service once the side is
past its commit point, and the transfer then completes) and then shuts the transport
down; after it,
the source finalizes with ``Stop`` and the destination with ``Resume`` (and is kept).
See :meth:`ComputeSystem.migrate <aiohcs.system.ComputeSystem.migrate>` and the guide
for the state each side is left in.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import anyio

from aiohcs._handle import run_shielded
from aiohcs._native import ffi, lib, require_export, to_wide, unpublished_export
from aiohcs.errors import (
    HcsError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    InvalidDocumentError,
)
from aiohcs.progress import NOTIFICATIONS_EXPORT, TrackedOperation

if TYPE_CHECKING:
    from aiohcs._handle import HandleOwner

__all__ = ["MIGRATION_EXPORTS", "Transport", "migrate_in", "migrate_out"]

#: What a migration needs the host to export (HcsCancelLiveMigration is in no header).
MIGRATION_EXPORTS: Final = (
    "HcsInitializeLiveMigrationOnSource",
    "HcsStartLiveMigrationOnSource",
    "HcsStartLiveMigrationTransfer",
    "HcsFinalizeLiveMigration",
    "HcsAddResourceToOperation",
    "HcsCancelLiveMigration",
)

#: The step after which the side holds (or, for the source, has handed over) the state.
TRANSFERRED: Final = "StartLiveMigrationTransfer"

#: The source's first step: until it succeeded, the system's migration (if any) is not ours.
INITIALIZED: Final = "InitializeLiveMigrationOnSource"

#: HcsResourceTypeSocket (HCS_RESOURCE_TYPE of the newer SDKs).
RESOURCE_TYPE_SOCKET: Final = 4

#: The transport of a migration: a connected socket (or its descriptor / SOCKET value).
Transport = socket.socket | int


def require_migration() -> None:
    """Raise :class:`~aiohcs.errors.UnsupportedOnThisHost` if the host cannot migrate."""
    for name in MIGRATION_EXPORTS:
        require_export(name)
    require_export(NOTIFICATIONS_EXPORT)  # (each step is made with notifications)


#: How long an interrupted transfer may take to end once HcsCancelLiveMigration was called
#: for it, before its transport is shut down (seconds).
SHUTDOWN_GRACE: Final = 5.0


def shut_down(transport: Transport) -> None:
    """Shut down the transport both ways (not closed: it stays the caller's); errors ignored.

    The peer's transfer then fails at once instead of waiting for its timeout.
    """
    with contextlib.suppress(OSError, ValueError, TypeError):
        if isinstance(transport, socket.socket):
            transport.shutdown(socket.SHUT_RDWR)
            return
        view = socket.socket(fileno=transport)  # (a view of the caller's socket, detached)
        try:
            view.shutdown(socket.SHUT_RDWR)
        finally:
            view.detach()


def socket_handle(transport: Transport) -> Any:
    """The HANDLE value of the transport socket (its descriptor; a SOCKET on Windows)."""
    if isinstance(transport, bool) or not isinstance(transport, socket.socket | int):
        raise InvalidArgumentTypeError(
            f"transport must be a socket.socket or its descriptor, not {type(transport).__name__}"
        )
    fileno = transport.fileno() if isinstance(transport, socket.socket) else transport
    if fileno < 0:
        raise InvalidArgumentError("transport must be an open socket")
    if isinstance(transport, int) and not _is_socket(fileno):
        raise InvalidArgumentError(f"transport must be a socket: {fileno} is not one")
    return ffi.cast("HANDLE", fileno)


def _is_socket(fileno: int) -> bool:
    """Whether ``fileno`` is an open socket (a descriptor; a SOCKET value on Windows)."""
    if sys.platform == "win32":
        try:  # (CPython asks Winsock about the value: WSAENOTSOCK if it is none)
            socket.socket(fileno=fileno).detach()
        except (OSError, OverflowError, ValueError):
            return False
        return True
    else:  # (mypy skips the branch of the other platform, not code after it)
        return _is_socket_descriptor(fileno)


def _is_socket_descriptor(fileno: int) -> bool:
    """POSIX: whether the descriptor is open and a socket."""
    try:
        return stat.S_ISSOCK(os.fstat(fileno).st_mode)
    except (OSError, OverflowError):
        return False


def document(model_name: str, value: Any, argument: str, **members: Any) -> str:
    """The migration document ``model_name`` (:mod:`aiohcs.migration`) as JSON text.

    ``value``: None, a model, a mapping or JSON text; ``members`` (JSON names, None left
    out) are set on it. Validated: a bad member raises InvalidDocumentError.
    """
    import pydantic

    from aiohcs import migration
    from aiohcs._documents import _json_path

    model = getattr(migration, model_name)
    try:
        instance = model() if value is None else model.coerce(value)
        data = instance.to_dict()
        data.update({k: v for k, v in members.items() if v is not None})
        text: str = model.model_validate(data).to_json()
    except pydantic.ValidationError as exc:
        errors = [
            (_json_path(model, tuple(e.get("loc", ()))), str(e.get("msg", "invalid")))
            for e in exc.errors()
        ]
        raise InvalidDocumentError(model_name, errors, argument=argument) from None
    except (TypeError, ValueError) as exc:
        raise InvalidDocumentError(model_name, [("", str(exc))], argument=argument) from None
    return text


def _with_socket(call: Callable[..., int], handle: Any) -> Callable[..., int]:
    """``call(system, op, options)`` after the socket is attached to ``op`` as a resource."""
    from aiohcs.migration import SOCKET_URI

    w_uri = to_wide(SOCKET_URI)

    def start(system: Any, op: Any, options: Any) -> int:
        hr: int = lib.HcsAddResourceToOperation(op, RESOURCE_TYPE_SOCKET, w_uri, handle)
        if hr < 0:
            return hr
        result: int = call(system, op, options)
        return result

    return start


async def _cancel(system: HandleOwner, origin: str) -> None:
    """HcsCancelLiveMigration for ``origin``, to its end whatever cancels the caller.

    Its own failure (the migration had not begun or had already ended, the handle is gone)
    does not hide the error the caller raises; a cancellation that arrives meanwhile is
    left to the caller, which is raising one anyway.
    """
    text = document("MigrationCancelOptions", None, "options", Origin=origin)
    cancel = unpublished_export("HcsCancelLiveMigration")

    async def call() -> None:
        with contextlib.suppress(HcsError):
            await system._call("CancelLiveMigration", cancel, text, cleanup=True)

    await run_shielded(call)


async def _step(
    system: HandleOwner,
    origin: str,
    operation: str,
    call: Callable[..., int],
    text: str,
    completed: list[str],
    *,
    cancel: bool = True,
    transport: Transport | None = None,
) -> None:
    """One step of a migration, made with notifications (a :class:`TrackedOperation`).

    A cancellation (or any other exception) that arrives while the step runs does not
    abandon it as it would a plain call: the step is ended at once, waited for to its end,
    and then the exception propagates. So when a migration call returns, nothing of it is
    still running. How it is ended: HcsCancelLiveMigration (not with ``cancel=False``, for a
    step that may not be ours to cancel), which the service refuses once the side has
    passed its commit point (the transfer then completes: the VM is on one host, never on
    both or neither); a transfer (``transport`` given) that has not ended within
    :data:`SHUTDOWN_GRACE` of it, by shutting its transport down. (Shutting the transport
    down first could lose the VM: the source's commit would be written but never read.)
    ``operation`` is appended to ``completed`` once the step succeeded (also when an
    interruption came too late to stop it).
    """
    w_text = to_wide(text)

    def start(op: Any) -> int:
        hr: int = call(system._require_handle(), op, w_text)
        return hr

    step = TrackedOperation(system, operation, start)
    await step.begin()
    try:
        await step.wait()
    except BaseException:

        async def finish() -> None:
            if cancel and not step.done:  # (interrupted while it runs, not failed by it)
                await _cancel(system, origin)
            if transport is not None and not step.done:
                with anyio.move_on_after(SHUTDOWN_GRACE), contextlib.suppress(Exception):
                    await step.wait()
                if not step.done:
                    shut_down(transport)
            with contextlib.suppress(Exception):
                await step.wait()
                completed.append(operation)

        # (Also when the interruption came after the step's outcome was known: a step that
        # succeeded is recorded, so the caller does not take the migration as not begun.)
        await run_shielded(finish)
        raise
    completed.append(operation)


async def _stop_source(system: HandleOwner) -> None:
    """HcsFinalizeLiveMigration with ``Stop`` on the source, to its end (errors ignored).

    Once the source's transfer has completed the destination holds the state: resuming the
    source then would run the VM on both hosts, so a source interrupted (or failed) after
    its transfer ends here, as a successful one does.
    """
    text = document(
        "MigrationFinalizedOptions", None, "options", Origin="Source", FinalizedOperation="Stop"
    )

    async def call() -> None:
        with contextlib.suppress(HcsError):
            await system._call("FinalizeLiveMigration", lib.HcsFinalizeLiveMigration, text)

    await run_shielded(call)


async def migrate_out(
    system: HandleOwner,
    transport: Transport,
    *,
    session_id: int | None,
    options: Any,
) -> None:
    """The source side (see :meth:`ComputeSystem.migrate <aiohcs.system.ComputeSystem.migrate>`)."""
    system._require_handle()
    require_migration()
    handle = socket_handle(transport)
    init = document("MigrationInitializeOptions", options, "options", Origin="Source")
    start = document(
        "MigrationStartOptions",
        None,
        "options",
        NetworkSettings={"SessionId": session_id} if session_id is not None else None,
    )
    transfer = document("MigrationTransferOptions", None, "options", Origin="Source")
    final = document(
        "MigrationFinalizedOptions", None, "options", Origin="Source", FinalizedOperation="Stop"
    )
    completed: list[str] = []
    try:
        await _step(
            system,
            "Source",
            INITIALIZED,
            lib.HcsInitializeLiveMigrationOnSource,
            init,
            completed,
            cancel=False,  # (refused, it is another call's migration that runs)
        )
        await _step(
            system,
            "Source",
            "StartLiveMigrationOnSource",
            _with_socket(lib.HcsStartLiveMigrationOnSource, handle),
            start,
            completed,
        )
        await _step(
            system,
            "Source",
            TRANSFERRED,
            lib.HcsStartLiveMigrationTransfer,
            transfer,
            completed,
            transport=transport,
        )
    except BaseException:
        # (Also after a step that completed before a cancellation reached it.)
        if TRANSFERRED in completed:
            await _stop_source(system)
            raise
        if INITIALIZED in completed:  # (not before: that would cancel another migration)
            await _cancel(system, "Source")
        shut_down(transport)  # (the destination fails at once)
        raise
    await system._call("FinalizeLiveMigration", lib.HcsFinalizeLiveMigration, final)


async def migrate_in(
    system: HandleOwner,
    transport: Transport,
    *,
    session_id: int | None,
    completed: list[str],
) -> None:
    """The destination side on a created system (see ``ComputeSystem.migrate_in``).

    The steps that succeeded are appended to ``completed``. If this raises before the
    transfer completed, the caller terminates and closes ``system``; after it (``TRANSFERRED``
    in ``completed``) the system holds the only running copy of the VM: the finalize
    (``Resume``) has been made to its end whatever interrupted the call, and the caller keeps
    the system (closes its handle only).
    """
    handle = socket_handle(transport)
    settings = {"NetworkSettings": {"SessionId": session_id} if session_id is not None else {}}
    start = document("StartOptions", None, "options", DestinationMigrationOptions=settings)
    transfer = document("MigrationTransferOptions", None, "options", Origin="Destination")
    final = document(
        "MigrationFinalizedOptions",
        None,
        "options",
        Origin="Destination",
        FinalizedOperation="Resume",
    )
    interrupted: BaseException | None = None
    try:
        await _step(
            system,
            "Destination",
            "Start",
            _with_socket(lib.HcsStartComputeSystem, handle),
            start,
            completed,
        )
        await _step(
            system,
            "Destination",
            TRANSFERRED,
            lib.HcsStartLiveMigrationTransfer,
            transfer,
            completed,
            transport=transport,
        )
    except BaseException as exc:
        if TRANSFERRED not in completed:
            await _cancel(system, "Destination")
            shut_down(transport)  # (the source fails at once)
            raise
        interrupted = exc  # (too late: the state is here; it resumes first)

    async def finalize() -> None:
        await _step(
            system,
            "Destination",
            "FinalizeLiveMigration",
            lib.HcsFinalizeLiveMigration,
            final,
            completed,
        )

    _, cancelled = await run_shielded(finalize)
    if interrupted is not None:
        raise interrupted
    if cancelled is not None:
        raise cancelled
    await anyio.lowlevel.checkpoint_if_cancelled()  # (an anyio cancellation held meanwhile)
