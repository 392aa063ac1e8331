"""One Host Compute Network (computenetwork) call: off the loop, its strings freed, its error typed.

Every Hcn function is synchronous (an RPC to HNS). :func:`hcn_call` waits for its turn,
makes the call in a worker thread with fresh out parameters (:class:`HcnOut`), frees every
string the call handed out with ``CoTaskMemFree`` in that thread, and returns what it
produced (:class:`HcnResult`) or raises the typed error of its HRESULT and ErrorRecord
(:func:`aiohcs.errors.hcn_error_from_hresult`), naming the call and the object.

A cancellation already pending when the call is due raises before anything reaches HNS.
Once the call has started it runs to its end (HNS cannot cancel it) and the cancellation is
delivered afterwards. A handle the call creates (``close`` names the function that closes
it) is never lost: when the await is cancelled the handle is closed in a worker thread (the
object the call created stays in HNS, and a warning of the ``aiohcs`` logger names it);
otherwise it is returned, and the caller adopts it before its next ``await``.

Ids: :func:`uuid_from_any` checks a user's id (a :class:`uuid.UUID`, or a string in any
case with optional braces) and :func:`guid_from` makes the ``GUID *`` C needs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import anyio.lowlevel

from aiohcs import _host_calls
from aiohcs._args import check_guid
from aiohcs._bridge import run_sync
from aiohcs._bridge._workers import run_detached
from aiohcs._native import CData, ffi, lib, require_export, take_network_document
from aiohcs.errors import hcn_error_from_hresult

__all__ = [
    "HcnOut",
    "HcnResult",
    "close_handle",
    "close_handle_detached",
    "guid_from",
    "hcn_call",
    "uuid_from_any",
]

_log = logging.getLogger("aiohcs")

#: A user's id as a :class:`uuid.UUID` (see :func:`aiohcs._args.check_guid`).
uuid_from_any = check_guid


def guid_from(id: uuid.UUID) -> CData:
    """A fresh ``GUID *`` holding ``id`` (the fields as Windows lays them out)."""
    g = ffi.new("GUID *")
    fields = id.fields
    g.Data1 = fields[0]
    g.Data2 = fields[1]
    g.Data3 = fields[2]
    g.Data4 = list(id.bytes[8:])
    return g


class HcnOut:
    """The out parameters of one Hcn call, fresh for it.

    ``error_record`` (``PWSTR *``), ``document`` (``PWSTR *``: the result document of a
    query or enumeration) and ``handle`` (``void **``: the handle a create or open makes;
    every HCN handle type, and ``HANDLE``, is a ``void *``). The caller's function passes
    the ones its export takes; :func:`hcn_call` frees and reads them.
    """

    __slots__ = ("document", "error_record", "handle")

    def __init__(self) -> None:
        self.error_record: CData = ffi.new("PWSTR *")
        self.document: CData = ffi.new("PWSTR *")
        self.handle: CData = ffi.new("void **")


@dataclass(frozen=True, slots=True)
class HcnResult:
    """What a successful Hcn call produced: its result document and its handle (0: none)."""

    document: str | None
    handle: int


def close_handle(close: str, handle: int) -> None:
    """Call the Hcn close function ``close`` (``"HcnCloseNetwork"``, ...) on ``handle`` (blocks)."""
    getattr(lib, close)(ffi.cast("void *", handle))


def close_handle_detached(close: str, handle: int) -> None:
    """Close ``handle`` in a worker thread, nobody waiting (finalizers, cancelled closes)."""
    run_detached(close_handle, close, handle)


def _run(fn: Callable[[HcnOut], int]) -> tuple[int, str | None, str | None, int]:
    """In a worker thread: the call, then its strings taken (always freed) and its handle."""
    out = HcnOut()
    hr = fn(out)
    try:
        document = take_network_document(out.document)
    finally:
        error = take_network_document(out.error_record)
    handle = int(ffi.cast("uintptr_t", out.handle[0]))
    return hr, document, error, handle


async def hcn_call(
    name: str,
    fn: Callable[[HcnOut], int],
    *,
    subject: str,
    close: str | None = None,
    types: tuple[str, ...] = (),
) -> HcnResult:
    """Make the Hcn call ``name`` (``fn(out)`` returns its HRESULT) off the loop.

    ``subject`` names the object for errors ("network 0f5a..."); ``close`` the function
    that closes a handle the call makes in ``out.handle``; ``types`` the models to load
    before the call (see :func:`aiohcs._host_calls.admit`). Raises
    :class:`~aiohcs.errors.UnsupportedOnThisHost` if the host lacks ``name``, the typed
    error of a failed HRESULT otherwise. A cancellation pending before the call starts
    raises and nothing is sent; one that arrives during it is raised once it has returned.
    A handle made by a call whose await was cancelled is closed (and a created object,
    which stays, is logged); a returned one must be adopted before the caller's next
    ``await``.
    """
    await _host_calls.admit(types)
    require_export(name)
    await anyio.lowlevel.checkpoint_if_cancelled()  # nothing reaches HNS once cancelled

    def discard(result: tuple[int, str | None, str | None, int]) -> None:
        if result[0] >= 0:
            _completed_despite_cancel(name, subject)
        if close is not None and result[0] >= 0 and result[3]:
            close_handle(close, result[3])

    result = await run_sync(_run, fn, discard=discard)  # (a native asyncio cancel: discarded)
    hr, document, error, handle = result
    if hr < 0:
        raise hcn_error_from_hresult(hr, call=name, subject=subject, document=error)
    try:
        await anyio.lowlevel.checkpoint_if_cancelled()  # (an anyio / trio cancel arrives here)
    except BaseException:
        _completed_despite_cancel(name, subject)
        if close is not None and handle:
            close_handle_detached(close, handle)
        raise
    return HcnResult(document, handle if close is not None else 0)


def _completed_despite_cancel(name: str, subject: str) -> None:
    """Log a call HNS completed although its await was cancelled (a create: a warning)."""
    if name.startswith("HcnCreate"):
        _log.warning(
            "aiohcs: %s was cancelled after HNS had created the %s: it stays in HNS until deleted",
            name,
            subject,
        )
    else:
        _log.debug("aiohcs: %s completed for the %s although cancelled", name, subject)
