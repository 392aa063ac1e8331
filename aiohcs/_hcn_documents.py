"""HCN documents in and out: the seam between :mod:`aiohcs.hcn` and the HCN models.

A settings, query or modification argument may be a model, a mapping or JSON text. It is
checked before anything reaches HNS: validated as its model of :mod:`aiohcs.schema.hcn`
(which checks GUIDs, CIDR prefixes, disjoint subnets, unique
endpoint addresses, ...), or, for a type without a model, as a JSON object; either way
with no string HCS cannot carry. Failures raise
:class:`~aiohcs.errors.InvalidDocumentError` naming the JSON path of the bad member.

Returned documents are parsed into the type's model when there is one, else into plain
JSON values (dicts and lists).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Final

from aiohcs import _documents, _json
from aiohcs.errors import InvalidArgumentTypeError, InvalidDocumentError, MalformedResult

__all__ = [
    "DEFAULT_QUERY",
    "SCHEMA_VERSION",
    "model_of",
    "parse_result",
    "parse_value",
    "settings_object",
    "to_text",
]

#: The schema version of HNS's V2 documents (every HCN call takes V2).
SCHEMA_VERSION: Final = {"Major": 2, "Minor": 0}
#: The query HNS is given when the caller names none (as hcsshim's default query).
DEFAULT_QUERY: Final = {"SchemaVersion": SCHEMA_VERSION, "Flags": 0}


@functools.cache
def model_of(type_name: str) -> Any:
    """The model class of the HCN document type ``type_name`` (None if it has none yet)."""
    try:
        from aiohcs.schema import hcn
    except ImportError:
        return None
    model = getattr(hcn, type_name, None)
    return model if isinstance(model, type) else None


def settings_object(value: Any, type_name: str, *, argument: str) -> dict[str, Any]:
    """``value`` (model, mapping or JSON text of an object) as a dict, validated.

    Raises :class:`~aiohcs.errors.InvalidArgumentTypeError` for another type and
    :class:`~aiohcs.errors.InvalidDocumentError` for a document that is not valid.
    """
    model = model_of(type_name)
    text: str | None
    if model is not None:
        text = _validated_text(model, value, type_name, argument)
    else:
        text = _documents.object_text(value, argument=argument)
    if text is None:
        return {}
    data = _json.read(text)
    if not isinstance(data, dict):  # pragma: no cover - object_text checked it
        raise InvalidDocumentError(type_name, [("", "expected a JSON object")], argument=argument)
    return data


def _validated_text(model: Any, value: Any, type_name: str, argument: str) -> str:
    import pydantic

    from aiohcs.schema import HcsModel

    if not isinstance(value, str | Mapping | HcsModel):
        raise InvalidArgumentTypeError(
            f"{argument} must be a {type_name} model, a mapping or JSON text, "
            f"not {type(value).__name__}"
        )
    try:
        text: str = model.coerce(value).to_json()
    except pydantic.ValidationError as exc:
        errors = [
            (_documents._json_path(model, tuple(e.get("loc", ()))), str(e.get("msg", "invalid")))
            for e in exc.errors()
        ]
        raise InvalidDocumentError(type_name, errors, argument=argument) from None
    except (TypeError, ValueError) as exc:
        raise InvalidDocumentError(type_name, [("", str(exc))], argument=argument) from None
    except RecursionError:
        raise InvalidDocumentError(
            type_name, [("", "nested too deep")], argument=argument
        ) from None
    return _documents._check_text(text, type_name, argument)


def to_text(data: Mapping[str, Any], type_name: str, *, argument: str) -> str:
    """The JSON text of an already checked document ``data``."""
    text = _documents.object_text(data, argument=argument)
    assert text is not None
    return text


def parse_result(
    document: str | None, type_name: str | None, *, call: str, subject: str | None = None
) -> Any:
    """A returned document as the model ``type_name`` (when there is one) or JSON values.

    HNS is trusted: a document that does not fit its model is kept, unvalidated. Text that
    is not JSON at all raises :class:`~aiohcs.errors.MalformedResult` naming ``call``.
    """
    if document is None or not document.strip():
        return None
    try:
        data = _json.read(document)
    except (ValueError, RecursionError):
        raise MalformedResult.of(call, document, subject=subject, what="JSON") from None
    return parse_value(data, type_name)


def parse_value(data: Any, type_name: str | None) -> Any:
    """Parsed JSON ``data`` as the model ``type_name`` (kept unvalidated if it does not fit)."""
    model = model_of(type_name) if type_name is not None else None
    if model is None or not isinstance(data, dict):
        return data
    try:
        return model.model_validate_json(_json.write(data))
    except ValueError:
        return _documents._lenient(model, data)
