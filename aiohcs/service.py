"""Calls on the HCS service itself (no compute system).

They are synchronous in HCS (an RPC to the compute service), so they run in a worker thread
and never stall the event loop. Cancelling one abandons nothing: the await ends when the
call returns (cancellation is delivered afterwards).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import anyio.lowlevel

from aiohcs._bridge import ADMIT_CALL, current_bridge, run_sync
from aiohcs._documents import (
    document_text,
    load_models,
    object_text,
    parse_document,
    parse_model,
    unloaded_models,
)
from aiohcs._native import lib, new_document_ptr, take_document, to_wide
from aiohcs.errors import InvalidArgumentTypeError, error_from_hresult

if TYPE_CHECKING:
    from aiohcs.schema import ServiceProperties

__all__ = ["modify_service_settings", "service_properties", "submit_wer_report"]

_log: Final = logging.getLogger("aiohcs")
#: The schema types each call validates or parses (loaded in a worker thread first).
_PROPERTIES_TYPES: Final = ("Service_PropertyQuery", "ServiceProperties")
_MODIFY_TYPES: Final = ("ModificationRequest",)


async def _admit(types: tuple[str, ...] = ()) -> None:
    """Wait for this call's turn, with pydantic and the models of ``types`` loaded.

    The first call of a process loads pydantic and the common models in a worker thread
    (see the bridge's admission); the service's own types load the same way, once, so
    that no import stalls the event loop. A failure there (out of descriptors, ...) is not
    raised: the models then load where they are first needed, and that call reports it.
    """
    await current_bridge().admit(ADMIT_CALL)
    missing = unloaded_models(types)
    if missing:
        try:
            await run_sync(load_models, missing)
        except Exception:
            _log.debug("aiohcs: loading %s ahead of use failed", missing, exc_info=True)


async def _call(name: str, fn: Callable[[], tuple[int, str | None]]) -> str | None:
    hr, document = await run_sync(fn)  # runs to its end, shielded
    if hr < 0:
        raise error_from_hresult(hr, operation=name, document=document)
    await anyio.lowlevel.checkpoint_if_cancelled()
    return document


async def service_properties(*property_types: str, query: Any = None) -> ServiceProperties:
    """Return the service's :class:`aiohcs.schema.ServiceProperties`.

    ``property_types`` are GetPropertyType names (``"Basic"`` when none are given);
    ``properties[i]`` answers ``property_types[i]``. ``query`` passes a whole
    Service_PropertyQuery instead (model, dict or JSON text, validated first).
    """
    await _admit(_PROPERTIES_TYPES)
    if query is None:
        query = {"PropertyTypes": list(property_types or ("Basic",))}
    w_query = to_wide(document_text(query, "Service_PropertyQuery", argument="query"))

    def call() -> tuple[int, str | None]:
        pp = new_document_ptr()
        hr: int = lib.HcsGetServiceProperties(w_query, pp)
        return hr, take_document(pp)

    props: ServiceProperties | None = parse_model(
        await _call("GetServiceProperties", call), "ServiceProperties"
    )
    if props is None:
        from aiohcs.schema import ServiceProperties

        props = ServiceProperties()
    return props


async def modify_service_settings(settings: Any) -> Any:
    """Apply a ModificationRequest to the service; return its result document (or None).

    ``settings``: model, dict or JSON text, validated as ModificationRequest first.
    """
    if settings is None:
        raise InvalidArgumentTypeError("settings must not be None")
    await _admit(_MODIFY_TYPES)
    text = document_text(settings, "ModificationRequest", argument="settings")
    w_settings = to_wide(text)

    def call() -> tuple[int, str | None]:
        pp = new_document_ptr()
        hr: int = lib.HcsModifyServiceSettings(w_settings, pp)
        return hr, take_document(pp)

    return parse_document(await _call("ModifyServiceSettings", call))


async def submit_wer_report(report: Any) -> None:
    """Submit a CrashReport (e.g. ``SystemCrashReport.raw``) to Windows Error Reporting.

    ``report``: JSON text, a mapping or a model of a JSON object (checked, not validated
    against the schema: it is passed on as HCS made it).
    """
    if report is None:
        raise InvalidArgumentTypeError("report must not be None")
    await _admit()
    text = object_text(report, argument="report")
    w_report = to_wide(text)

    def call() -> tuple[int, str | None]:
        hr: int = lib.HcsSubmitWerReport(w_report)
        return hr, None

    await _call("SubmitWerReport", call)
