"""Calls on the HCS service itself (no compute system).

They are synchronous in HCS (an RPC to the compute service), so they run in a worker thread
and never stall the event loop. Cancelling one abandons nothing: the await ends when the
call returns (cancellation is delivered afterwards).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from aiohcs._documents import document_text, object_text, parse_document, parse_model
from aiohcs._host_calls import admit as _admit
from aiohcs._host_calls import call as _call
from aiohcs._native import lib, new_document_ptr, take_document, to_wide
from aiohcs.errors import InvalidArgumentTypeError

if TYPE_CHECKING:
    from aiohcs.schema import ServiceProperties

__all__ = ["modify_service_settings", "service_properties", "submit_wer_report"]

#: The schema types each call validates or parses (loaded in a worker thread first).
_PROPERTIES_TYPES: Final = ("Service_PropertyQuery", "ServiceProperties")
_MODIFY_TYPES: Final = ("ModificationRequest",)


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
