"""The one generic HCN object: a handle owner parameterised by its kind (the Hcn function family).

Networks, endpoints, namespaces and load balancers are the same thing to computenetwork:
an id, a handle made by ``HcnCreate<Kind>`` or ``HcnOpen<Kind>``, properties queried with
``HcnQuery<Kind>Properties``, modified with ``HcnModify<Kind>``, closed with
``HcnClose<Kind>``, deleted by id with ``HcnDelete<Kind>``, enumerated with
``HcnEnumerate<Kinds>``. :class:`Kind` names that family; :class:`HcnObject` owns one handle
of it; :func:`create`, :func:`open_object`, :func:`enumerate_ids`, :func:`enumerate_detailed`
and :func:`delete` are the calls by id. :mod:`aiohcs.hcn` gives each kind its class.

Ownership: one owner, one close. A call holds the handle while HNS uses it; :meth:`aclose`
stops new calls, waits for those in flight, and closes the handle off the loop. An object
left unclosed warns (``ResourceWarning``) and its handle is closed when it is collected.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import anyio
import anyio.abc

from aiohcs import _hcn_documents as docs
from aiohcs._bridge import run_sync
from aiohcs._hcn_call import (
    HcnOut,
    close_handle,
    close_handle_detached,
    guid_from,
    hcn_call,
    uuid_from_any,
)
from aiohcs._native import ffi, lib, to_wide
from aiohcs._unclosed import finalize_unclosed
from aiohcs.errors import HandleClosedError, InvalidArgumentError, MalformedResult, NotFound

__all__ = [
    "HcnObject",
    "Kind",
    "create",
    "delete",
    "enumerate_detailed",
    "enumerate_ids",
    "open_object",
    "query_text",
]


@dataclass(frozen=True)
class Kind:
    """One family of Hcn functions: ``title`` "Network" gives HcnCreateNetwork, ...

    ``name`` names an object of the kind in messages ("network"), ``plural`` is the infix
    of its enumeration (HcnEnumerateNetworks), ``model`` the HCN document type of its
    settings and properties.
    """

    name: str
    title: str
    plural: str
    model: str

    def function(self, verb: str) -> str:
        """The name of the Hcn function ``verb`` of this kind ("Create" → "HcnCreateNetwork")."""
        if verb == "Enumerate":
            return f"HcnEnumerate{self.plural}"
        if verb == "Query":
            return f"HcnQuery{self.title}Properties"
        return f"Hcn{verb}{self.title}"

    def subject(self, id: uuid.UUID) -> str:
        """How errors name the object: "network 0f5a..."."""
        return f"{self.name} {id}"


def query_text(query: Any, *, argument: str = "query") -> Any:
    """The ``PCWSTR`` of a query argument (None: the default V2 query)."""
    data = docs.settings_object(
        docs.DEFAULT_QUERY if query is None else query, "HostComputeQuery", argument=argument
    )
    return to_wide(docs.to_text(data, "HostComputeQuery", argument=argument))


def settings_text(
    kind: Kind, settings: Any, id: Any, *, argument: str = "settings", **extra: Any
) -> tuple[uuid.UUID, Any]:
    """The new object's id and the checked ``PCWSTR`` of ``settings`` for a create of ``kind``.

    ``extra`` members are merged in (and validated with the document). The id is ``id``,
    else the document's ``ID``, else a new one; an ``ID`` that differs from ``id`` raises
    :class:`~aiohcs.errors.InvalidArgumentError`. A document without a ``SchemaVersion``
    gets HNS's V2 one.
    """
    oid = None if id is None else uuid_from_any(id, "id")
    data = docs.settings_object({} if settings is None else settings, kind.model, argument=argument)
    if extra:  # (validated with the document they join)
        data = docs.settings_object({**data, **extra}, kind.model, argument=argument)
    if data.get("ID") is not None:
        own = uuid_from_any(data["ID"], f"{argument}.ID")
        if oid is not None and own != oid:
            raise InvalidArgumentError(f"{argument}.ID is {own}, not the id argument {oid}")
        oid = own
    data.setdefault("SchemaVersion", dict(docs.SCHEMA_VERSION))
    return oid or uuid.uuid4(), to_wide(docs.to_text(data, kind.model, argument=argument))


def check_not_empty(request: dict[str, Any], subject: str) -> None:
    """Refuse an empty modification request of ``subject`` (it says nothing to change)."""
    if not request:
        raise InvalidArgumentError(
            f"the modification request of the {subject} is empty: give its ResourceType, "
            "RequestType and Settings"
        )


_O = TypeVar("_O", bound="HcnObject")


def _function(name: str) -> Any:
    """The compiled Hcn function ``name`` (every one is declared; the host may lack it)."""
    return getattr(lib, name)


class HcnObject(anyio.abc.AsyncResource):
    """An open HCN object of one :class:`Kind`: its id and the handle this object owns.

    Async context manager; :meth:`aclose` closes the handle (never deletes the object),
    :meth:`delete` closes it and deletes the object.
    """

    _kind: ClassVar[Kind]
    id: uuid.UUID
    _handle: int | None
    _holds: int
    _closing: bool
    _close_on_release: bool
    _released: anyio.Event | None

    def __init__(self, *args: object, **kwargs: object) -> None:
        """Refuse: objects are made by the create and open functions of :mod:`aiohcs.hcn`."""
        name = type(self).__name__
        raise TypeError(f"{name} cannot be constructed: use the create_/open_ functions")

    @classmethod
    def _adopt(cls: type[_O], handle: int, id: uuid.UUID) -> _O:
        obj = cls.__new__(cls)
        obj.id = id
        obj._handle = handle
        obj._holds = 0
        obj._closing = False
        obj._close_on_release = False
        obj._released = None
        return obj

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<{type(self).__name__} {self.id} {state}>"

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` (or :meth:`delete`) has begun."""
        return self._closing or self._handle is None

    @property
    def _subject(self) -> str:
        return self._kind.subject(self.id)

    # ---- holding the handle for a call

    @contextlib.contextmanager
    def _held(self) -> Iterator[Any]:
        """Hold the handle for a ``with`` block, which gets it as a ``void *``."""
        if self._handle is None or self._closing:
            raise HandleClosedError(message=f"the {self._subject} is closed", subject=self._subject)
        self._holds += 1
        try:
            yield ffi.cast("void *", self._handle)
        finally:
            self._holds -= 1
            if not self._holds:
                if self._released is not None:
                    self._released.set()
                if self._close_on_release and self._handle is not None:
                    handle, self._handle = self._handle, None
                    close_handle_detached(self._kind.function("Close"), handle)

    async def _handle_call(
        self, name: str, fn: Callable[[Any, HcnOut], int], *, close: str | None = None
    ) -> Any:
        """Make the Hcn call ``name`` with this object's handle: ``fn(handle, out)``."""
        with self._held() as handle:
            return await hcn_call(
                name, lambda out: fn(handle, out), subject=self._subject, close=close
            )

    async def _query_call(self, name: str, query: Any, type_name: str | None) -> Any:
        """A query function of the handle (properties, stats, addresses), parsed."""
        text = query_text(query)
        function = _function(name)

        def call(handle: Any, out: HcnOut) -> int:
            hr: int = function(handle, text, out.document, out.error_record)
            return hr

        result = await self._handle_call(name, call)
        return docs.parse_result(result.document, type_name, call=name, subject=self._subject)

    # ---- the calls every kind has

    async def properties(self, query: Any = None) -> Any:
        """The object's properties document (``query``: a HostComputeQuery; None: the default)."""
        return await self._query_call(self._kind.function("Query"), query, self._kind.model)

    async def modify(self, request: Any) -> None:
        """Apply a modification request (a model, mapping or JSON text of an object).

        An empty request (``{}``) changes nothing and is refused before it is sent
        (:class:`~aiohcs.errors.InvalidArgumentError`).
        """
        data = docs.settings_object(
            request, f"Modify{self._kind.title}SettingRequest", argument="request"
        )
        check_not_empty(data, self._subject)
        await self._modify(data)

    async def _modify(self, data: dict[str, Any]) -> None:
        text = to_wide(docs.to_text(data, "ModifySettingRequest", argument="request"))
        name = self._kind.function("Modify")
        function = _function(name)

        def call(handle: Any, out: HcnOut) -> int:
            hr: int = function(handle, text, out.error_record)
            return hr

        await self._handle_call(name, call)

    async def delete(self) -> None:
        """Close this object's handle, then delete the object (HcnDelete<Kind>).

        The delete is by id (as ``hcn.delete_<kind>(obj.id)``) and needs no handle, so it
        works after :meth:`aclose` too, unlike the calls that use the handle (``properties``,
        ``modify``, ... raise :class:`~aiohcs.errors.HandleClosedError` then).
        """
        await self.aclose()
        await delete(self._kind, self.id)

    async def aclose(self) -> None:
        """Close the handle (idempotent); waits for calls in progress. The object stays."""
        if self._handle is None or self._closing:
            return
        self._closing = True
        try:
            while self._holds:
                self._released = anyio.Event()
                await self._released.wait()
        except BaseException:
            if self._holds:  # the last call to return closes it
                self._close_on_release = True
            elif self._handle is not None:
                handle, self._handle = self._handle, None
                close_handle_detached(self._kind.function("Close"), handle)
            raise
        handle, self._handle = self._handle, None
        if handle is not None:
            await run_sync(close_handle, self._kind.function("Close"), handle)

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is None:
            return
        self._handle = None
        close = self._kind.function("Close")
        # (the subject, not repr(): that would say "closed" now that the handle is dropped)
        finalize_unclosed(self, self._subject, lambda: close_handle_detached(close, handle))


# ---------------------------------------------------------------- calls by id


async def create(
    cls: type[_O],
    settings: Any,
    id: Any = None,
    *,
    parent: HcnObject | None = None,
    extra: dict[str, Any] | None = None,
) -> _O:
    """Create an object of ``cls``'s kind (under ``parent``'s handle: an endpoint's network)."""
    kind = cls._kind
    oid, text = settings_text(kind, settings, id, **(extra or {}))
    guid = guid_from(oid)
    name = kind.function("Create")
    close = kind.function("Close")
    function = _function(name)
    if parent is not None:
        with parent._held() as parent_handle:
            result = await hcn_call(
                name,
                lambda out: function(parent_handle, guid, text, out.handle, out.error_record),
                subject=kind.subject(oid),
                close=close,
            )
    else:
        result = await hcn_call(
            name,
            lambda out: function(guid, text, out.handle, out.error_record),
            subject=kind.subject(oid),
            close=close,
        )
    return cls._adopt(result.handle, oid)


async def open_object(cls: type[_O], id: Any) -> _O:
    """Open the existing object ``id`` of ``cls``'s kind."""
    kind = cls._kind
    oid = uuid_from_any(id, "id")
    guid = guid_from(oid)
    name = kind.function("Open")
    function = _function(name)
    result = await hcn_call(
        name,
        lambda out: function(guid, out.handle, out.error_record),
        subject=kind.subject(oid),
        close=kind.function("Close"),
    )
    return cls._adopt(result.handle, oid)


async def delete(kind: Kind, id: Any) -> None:
    """Delete the object ``id`` of ``kind`` (its open handles stay valid until closed)."""
    oid = uuid_from_any(id, "id")
    guid = guid_from(oid)
    name = kind.function("Delete")
    function = _function(name)
    await hcn_call(name, lambda out: function(guid, out.error_record), subject=kind.subject(oid))


async def _enumerate(kind: Kind, query: Any) -> list[Any]:
    """The entries of an enumeration of ``kind``: ids, or objects when ``query`` is Detailed."""
    text = query_text(query)
    name = kind.function("Enumerate")
    function = _function(name)
    subject = f"{kind.name}s"
    result = await hcn_call(
        name, lambda out: function(text, out.document, out.error_record), subject=subject
    )
    entries = docs.parse_result(result.document, None, call=name, subject=subject)
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise MalformedResult.of(name, result.document or "", subject=subject, what="a JSON array")
    return entries


def _entry_id(entry: Any) -> uuid.UUID | None:
    """The id of an enumeration entry (an id, or an object with an ``ID``); None if none."""
    if isinstance(entry, dict):
        entry = entry.get("ID")
    try:
        return uuid_from_any(entry)
    except InvalidArgumentError:
        return None


async def enumerate_ids(kind: Kind, query: Any = None) -> list[uuid.UUID]:
    """The ids of the objects of ``kind`` that ``query`` selects.

    The entries HNS returns are ids, or whole objects when the query has the Detailed flag;
    the ids of both are returned, and an entry with no id is left out.
    """
    return [oid for oid in map(_entry_id, await _enumerate(kind, query)) if oid is not None]


async def enumerate_detailed(cls: type[HcnObject], query: Any = None) -> list[Any]:
    """The properties of every object of ``cls``'s kind ``query`` selects.

    A query with the Detailed flag gets the objects from the enumeration itself. Otherwise
    each id is opened and queried; an object deleted between the enumeration and its
    query is left out.
    """
    kind = cls._kind
    found: list[Any] = []
    for entry in await _enumerate(kind, query):
        if isinstance(entry, dict):
            found.append(docs.parse_value(entry, kind.model))
            continue
        oid = _entry_id(entry)
        if oid is None:
            continue
        try:
            async with await open_object(cls, oid) as obj:
                found.append(await obj.properties())
        except NotFound:
            continue
    return found
