"""What compute systems and processes both do with their HCS handle.

:class:`HandleOwner` is the base of :class:`~aiohcs.system.ComputeSystem` and
:class:`~aiohcs.process.Process`. It owns one handle (``HCS_SYSTEM`` or ``HCS_PROCESS``),
its :class:`~aiohcs.events.EventHub` and its :class:`~aiohcs.operation.OperationOwner`:

* starting an operation on the handle, its options validated first (:meth:`HandleOwner._call`);
* the exit check right after the event callback was registered (HCS does not replay events;
  whether the terminal one reaches a late registration is not documented, so an exit in the
  window before the registration is found by one query and reported as a synthesized
  terminal event, once, whichever comes first);
* the close: idempotent, concurrent callers wait for the first one; new calls fail at once,
  waiters are released, calls running in worker threads are waited for (a handle is never
  closed under a call another thread is making with it, HCS contract §3.4), then the handle
  is closed on one of the bridge's C threads and the bridge id dropped. It always runs to
  its end, native asyncio cancellation included (:func:`run_shielded`);
* ``async with``, and a ``ResourceWarning`` (plus a synchronous close) for an object that is
  garbage-collected without being closed.

:class:`PendingHandle` is a handle on its way in: the out-pointer HCS fills, the event hub
whose id the callback gets, and the discard (close + unregister) when the create or open
that produces it fails or is cancelled.

Systems are opened here only: :meth:`PendingHandle.open_native` for
:meth:`ComputeSystem.open <aiohcs.system.ComputeSystem.open>` (on a bridge thread, with the
event callback registered), :func:`open_fresh_process` for ``Process.kill()`` (a system
and a process handle without events, in a worker thread).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar

import anyio
import anyio.abc
import anyio.lowlevel

from aiohcs._bridge import (
    CALL_CLOSE_PROCESS,
    CALL_CLOSE_SYSTEM,
    CALL_OPEN_SYSTEM,
    Item,
    admit_close,
    close_detached,
    close_native,
    current_backend,
    run_native,
    run_sync,
)
from aiohcs._documents import document_text, to_document
from aiohcs._native import ffi, lib, to_wide
from aiohcs._unclosed import finalize_unclosed
from aiohcs.errors import HResult, error_from_hresult
from aiohcs.errors import ServiceDisconnected as ServiceDisconnectedError
from aiohcs.events import Event, EventHub, EventType, ServiceDisconnectedEvent, decode_event
from aiohcs.operation import HandleClosedError, OperationOwner, run_operation

if TYPE_CHECKING:
    from aiohcs._bridge import LoopBridge

__all__ = [
    "GENERIC_ALL",
    "PROCESS",
    "SYSTEM",
    "HandleKind",
    "HandleOwner",
    "PendingHandle",
    "close_fresh_process",
    "closed_error",
    "open_fresh_process",
    "run_shielded",
    "using_handle",
]

_T = TypeVar("_T")

#: The access HCS handles are opened with.
GENERIC_ALL: Final = 0x10000000


@dataclass(frozen=True)
class HandleKind:
    """The HCS functions and names that differ between system and process handles."""

    #: The cffi type of the out-parameter of the create/open functions.
    pointer_type: str
    #: The native call (bridge thread) that closes the handle.
    close_call: int
    #: The bridge function that registers the event callback (handle, id) -> HRESULT.
    set_callback: Callable[[Any, int], int]
    #: The operation name errors of the callback registration carry.
    callback_operation: str
    #: The event type of the handle's exit (published when the exit check finds one).
    exit_event: int


SYSTEM: Final = HandleKind(
    "HCS_SYSTEM *",
    CALL_CLOSE_SYSTEM,
    lib.aiohcs_set_system_callback,
    "SetComputeSystemCallback",
    int(EventType.SYSTEM_EXITED),
)
PROCESS: Final = HandleKind(
    "HCS_PROCESS *",
    CALL_CLOSE_PROCESS,
    lib.aiohcs_set_process_callback,
    "SetProcessCallback",
    int(EventType.PROCESS_EXITED),
)


def _open_system(w_id: Any, w_namespace: Any, out: Any) -> int:
    """Open a compute system (in ``w_namespace`` unless NULL); blocking.

    The bridge's one open (``aiohcs_open_system``), which the native open call uses too.
    """
    hr: int = lib.aiohcs_open_system(w_id, w_namespace, out)
    return hr


async def open_fresh_process(
    system_id: str, namespace: str | None, pid: int
) -> tuple[int, Any, Any]:
    """Open a new system handle and process handle (no events): (HRESULT, system, process).

    In a worker thread; cancelled meanwhile, the handles it opened are closed, never lost.
    """
    w_id, w_namespace = to_wide(system_id), to_wide(namespace)

    def open_both() -> tuple[int, Any, Any]:
        out_s = ffi.new("HCS_SYSTEM *")
        hr = _open_system(w_id, w_namespace, out_s)
        if hr < 0:
            return hr, None, None
        out_p = ffi.new("HCS_PROCESS *")
        hr = lib.HcsOpenProcess(out_s[0], pid, GENERIC_ALL, out_p)
        if hr < 0:
            lib.HcsCloseComputeSystem(out_s[0])
            return hr, None, None
        return hr, out_s[0], out_p[0]

    def discard(opened: tuple[int, Any, Any]) -> None:
        if opened[0] >= 0:
            close_fresh_process(opened[1], opened[2])

    return await run_sync(open_both, discard=discard)


def close_fresh_process(sys_h: Any, proc_h: Any) -> None:
    """Close what :func:`open_fresh_process` opened (blocking)."""
    lib.HcsCloseProcess(proc_h)
    lib.HcsCloseComputeSystem(sys_h)


def closed_error(description: str, ids: dict[str, Any]) -> HandleClosedError:
    """The error of a call on a closed handle (``description``: "compute system 'x'", ...)."""
    return HandleClosedError(message=f"the handle of {description} has been closed", **ids)


@contextlib.contextmanager
def using_handle(owner: OperationOwner) -> Iterator[None]:
    """Count a call that uses ``owner``'s handle from a worker thread (close waits for it)."""
    owner.check_open()
    owner.busy += 1
    try:
        yield
    finally:
        owner._leave()


async def run_shielded(fn: Callable[[], Awaitable[_T]]) -> tuple[_T, BaseException | None]:
    """Run ``fn()`` to its end whatever cancels the caller; return its result and that cancellation.

    For work that must not stop half-way (a process being created, a kill, a close). The
    caller's cancellation that arrived meanwhile is returned (None if none), for the caller
    to raise once it has dealt with the outcome; if ``fn`` raises, that cancellation is
    raised instead of its error. How each event loop does it:
    :meth:`~aiohcs._bridge._backends.LoopBackend.run_shielded`.
    """
    return await current_backend().run_shielded(fn)


class PendingHandle:
    """A handle being created or opened, with its event hub; discarded if that fails.

    Use as ``async with PendingHandle(kind, bridge) as pending:`` around the create/open:
    an exception (or cancellation) leaving the block closes the handle HCS may have handed
    out (on a bridge thread) and drops the hub's id, then propagates.
    """

    __slots__ = ("callback_hr", "hub", "kind", "out")

    def __init__(self, kind: HandleKind, bridge: LoopBridge) -> None:
        self.kind = kind
        self.hub = EventHub(bridge)
        self.out = ffi.new(kind.pointer_type)
        self.callback_hr = 0

    @property
    def handle(self) -> Any:
        """The handle HCS wrote to :attr:`out` (None if none yet)."""
        handle = self.out[0]
        return None if handle == ffi.NULL else handle

    def register(self) -> None:
        """Register the event callback on the new handle (any thread).

        Called right after HCS handed the handle out, before anything else sees it.
        """
        if self.out[0] != ffi.NULL:
            self.callback_hr = self.kind.set_callback(self.out[0], self.hub.id)

    def take_call(self, item: Item) -> None:
        """Take the handle a native create/open produced (and its registration's outcome)."""
        if item.handle:
            self.out[0] = ffi.cast(ffi.typeof(self.out).item, item.handle)
        self.callback_hr = item.callback_result

    def check_registered(self, **ids: Any) -> None:
        """Raise the typed error if :meth:`register` failed."""
        if self.callback_hr < 0:
            raise error_from_hresult(
                self.callback_hr, operation=self.kind.callback_operation, **ids
            )

    async def open(self, call: Callable[[Any], int], *, operation: str, **ids: Any) -> None:
        """Run ``call(out)`` (an HcsOpen… function) and the registration in a worker thread."""

        def do_open() -> int:
            hr = call(self.out)
            if hr >= 0:
                self.register()
            return hr

        hr = await run_sync(do_open)  # shielded: the registration must run to its end
        if hr < 0:
            raise error_from_hresult(hr, operation=operation, **ids)
        self.check_registered(**ids)
        await anyio.lowlevel.checkpoint_if_cancelled()

    async def open_native(self, texts: tuple[Any, Any, Any], **ids: Any) -> None:
        """HcsOpenComputeSystem(InNamespace) + the registration, on a bridge thread.

        ``texts``: (id, NULL, namespace or NULL) as UTF-16 buffers.
        """
        item = await run_native(CALL_OPEN_SYSTEM, texts=texts, callback_id=self.hub.id)
        self.take_call(item)
        if item.result < 0:
            raise error_from_hresult(item.result, operation="Open", **ids)
        self.check_registered(**ids)
        await anyio.lowlevel.checkpoint_if_cancelled()

    async def discard(self) -> None:
        """Close the handle (if any) on a bridge thread and drop the hub's id.

        Runs to its end whatever cancels the caller (:func:`run_shielded`).
        """
        _, cancelled = await run_shielded(self._discard)
        if cancelled is not None:
            raise cancelled

    async def _discard(self) -> None:
        handle = self.handle
        if handle is not None:
            self.out[0] = ffi.NULL
            await close_native(self.kind.close_call, handle)
        self.hub.unregister()

    async def __aenter__(self) -> PendingHandle:
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is not None:
            await self.discard()


class HandleOwner(anyio.abc.AsyncResource):
    """The shared part of the objects that own one HCS handle (see the module docs)."""

    __slots__ = ("__weakref__", "_close_done", "_description", "_handle", "_hub", "_ids", "_ops")

    #: Which kind of handle subclasses own.
    _KIND: ClassVar[HandleKind]

    def __init__(self, pending: PendingHandle, description: str, ids: dict[str, Any]) -> None:
        """Take over the handle of ``pending``.

        ``description`` ("compute system 'x'", "process 7 in 'x'") goes into messages,
        ``ids`` (``system_id``, ``process_id``) into errors.
        """
        self._handle = pending.out[0]
        self._hub = pending.hub
        self._description = description
        self._ids = ids
        # The error factory must not reference self (no cycle: an unclosed object is
        # finalized as soon as its last reference goes).
        self._ops = OperationOwner(pending.hub.bridge, lambda: closed_error(description, ids))
        self._close_done: anyio.Event | None = None

    # ---------------------------------------------------------------- for subclasses

    async def _missed_exit(self) -> str | None:
        """Query the object: the payload of its exit event if it has exited, else None."""
        raise NotImplementedError

    async def _release(self) -> None:
        """Let go of what the object holds besides the handle (first step of the close)."""

    # ---------------------------------------------------------------- shared behaviour

    @property
    def system_id(self) -> str:
        """The id of the compute system (the one the process runs in, for a process)."""
        system_id: str = self._ids["system_id"]
        return system_id

    @property
    def closed(self) -> bool:
        """True once the handle is closed or closing (calls then fail with HandleClosedError)."""
        return self._ops.closed

    def _require_handle(self) -> Any:
        self._ops.check_open()
        return self._handle

    async def _call(
        self,
        operation: str,
        function: Callable[..., int],
        options: Any = None,
        *extra: Any,
        type_name: str | None = None,
        argument: str = "options",
        cleanup: bool = False,
    ) -> str | None:
        """Run ``function(handle, operation, options, *extra)``; return its result document.

        ``options`` is validated as the schema type ``type_name`` first (model, mapping or
        JSON text; :class:`~aiohcs.errors.InvalidDocumentError` names the bad member), or
        taken as it is without one. A closed handle fails first, before any validation.
        ``cleanup``: see :func:`~aiohcs.operation.run_operation`.
        """
        handle = self._require_handle()
        if type_name is None:
            text = to_document(options)
        else:
            text = document_text(options, type_name, argument=argument)
        w_options = to_wide(text)

        def start(op: Any) -> int:
            hr: int = function(handle, op, w_options, *extra)
            return hr

        result = await run_operation(
            start, operation=operation, owner=self._ops, cleanup=cleanup, **self._ids
        )
        return result.document

    async def _check_missed_exit(
        self,
        *,
        shield: bool = False,
        on_failure: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        """Catch an exit that happened before the event callback was registered.

        An exit the query finds is published (as a synthesized terminal event) before the
        caller's cancellation is looked at: whatever runs next must not wait for an exit
        event that will never come. If the query fails (or is cancelled), ``on_failure``
        (default: :meth:`aclose`) runs to its end (:func:`run_shielded`) and the error or
        cancellation propagates. ``shield``: the query itself runs to its end too.
        """
        try:
            if shield:
                payload, cancelled = await run_shielded(self._missed_exit)
            else:
                payload, cancelled = await self._missed_exit(), None
            if payload is not None and self._hub.terminal is None:
                event = decode_event(self._KIND.exit_event, payload, synthesized=True)
                self._hub.publish(event)
            if cancelled is not None:
                raise cancelled
            await anyio.lowlevel.checkpoint_if_cancelled()
        except BaseException:
            await run_shielded(on_failure or self.aclose)
            raise

    async def _wait_terminal(self) -> Event:
        """Wait for the exit event; raise if the service went away or the handle closed."""
        terminal = await self._hub.wait()
        if isinstance(terminal, ServiceDisconnectedEvent):
            raise ServiceDisconnectedError(
                HResult.HCS_E_SERVICE_DISCONNECT, operation="Wait", **self._ids
            )
        if terminal is None:
            raise self._ops.make_closed_error()
        return terminal

    async def _close_handle(self) -> None:
        """The close sequence (idempotent; a concurrent caller waits for the first).

        It runs to its end whatever cancels the caller (:func:`run_shielded`); a
        cancellation that arrived meanwhile is raised afterwards.
        """
        if self._ops.bridge.inherited:  # a forked child: the handle is the parent's
            self._handle = None
            await anyio.lowlevel.checkpoint()
            return
        if self._close_done is not None:
            with anyio.CancelScope(shield=True):
                await self._close_done.wait()
            return
        self._close_done = done = anyio.Event()
        # Many closes at once begin a few per loop turn (see LoopBridge.admit); admitted
        # before run_shielded, so that a burst of closes does not first start a task each.
        waited = await admit_close(self._ops.bridge)
        _, cancelled = await run_shielded(functools.partial(self._close_sequence, done))
        if waited is not None:
            raise waited
        if cancelled is not None:
            raise cancelled

    async def _close_sequence(self, done: anyio.Event) -> None:
        try:
            await self._release()
            self._ops.close()
            self._hub.close()
            # Never close the handle under a call another thread is making with it.
            await self._ops.wait_idle()
            handle, self._handle = self._handle, None
            if handle is not None:
                await close_native(self._KIND.close_call, handle)
            self._hub.unregister()
        finally:
            done.set()

    async def aclose(self) -> None:
        """Close the handle (what it refers to keeps running). Idempotent."""
        await self._close_handle()

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is None:
            return
        self._handle = None
        if self._ops.bridge.inherited:  # a forked child: the handle is the parent's
            return

        def close() -> None:
            # Later callbacks for the id are dropped in C; the close itself (an RPC on
            # Windows) must not block whatever thread runs this finalizer, often the loop's.
            self._hub.unregister_detached()
            close_detached(self._KIND.close_call, handle)

        finalize_unclosed(self, self._description, close)
