"""Document arguments and results: validation against the HCS schema models.

Every public call that takes a document accepts a model, a mapping or JSON text; it is
validated as its :mod:`aiohcs.schema` type before anything reaches HCS (a failure raises
:class:`~aiohcs.errors.InvalidDocumentError` naming the JSON path of the bad member) and
serialized with unknown (extension) members kept. Returned documents are parsed into models.

The models (and pydantic) load on the first call that needs them, not at ``import aiohcs``.
"""

from __future__ import annotations

import functools
import typing
from typing import Any

from aiohcs.errors import InvalidDocumentError

__all__ = ["coerce_document", "document_text", "parse_model", "parse_model_list"]


@functools.cache
def _model(type_name: str) -> Any:
    from aiohcs import schema

    return schema.get_type(type_name)


#: The schema types aiohcs itself validates or parses in most programs: a create's
#: configuration, properties, exit statuses, process parameters.
_COMMON_TYPES = (
    "ComputeSystem",
    "Properties",
    "SystemExitStatus",
    "ProcessParameters",
    "ProcessStatus",
)


def warm_up() -> None:
    """Load pydantic and the common schema models and build their validators.

    Any thread: the bridge runs this in a worker thread before the first call of the
    process, so that the loop never waits for these imports (~0.1-0.2 s).
    """
    for name in _COMMON_TYPES:
        _model(name).model_rebuild()


def _model_in(annotation: Any) -> Any:
    """The HcsModel class inside a field annotation (``X | None``, ``list[X]``, ...)."""
    from aiohcs.schema import HcsModel

    if isinstance(annotation, type) and issubclass(annotation, HcsModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _json_path(model: Any, loc: tuple[Any, ...]) -> str:
    """Turn a pydantic error location into the JSON member path (aliases, ``.`` separated)."""
    parts: list[str] = []
    cls = model
    for element in loc:
        if isinstance(element, int) or cls is None:
            parts.append(str(element))
            continue
        field = None
        fields = cls.model_fields
        if element in fields:
            field = fields[element]
        else:
            field = next((f for f in fields.values() if f.serialization_alias == element), None)
        if field is None:
            parts.append(str(element))
            cls = None
            continue
        parts.append(field.serialization_alias or str(element))
        cls = _model_in(field.annotation)
    return ".".join(parts)


def coerce_document(value: Any, type_name: str, *, argument: str | None = None) -> Any:
    """Validate ``value`` (model, mapping or JSON text) as the schema type ``type_name``."""
    import pydantic

    model = _model(type_name)
    try:
        return model.coerce(value)
    except pydantic.ValidationError as exc:
        errors = [
            (_json_path(model, tuple(e.get("loc", ()))), str(e.get("msg", "invalid")))
            for e in exc.errors()
        ]
        raise InvalidDocumentError(type_name, errors, argument=argument) from None
    except TypeError as exc:
        raise InvalidDocumentError(type_name, [("", str(exc))], argument=argument) from None


def document_text(value: Any, type_name: str, *, argument: str | None = None) -> str | None:
    """The validated JSON text for a document argument (None stays None)."""
    if value is None:
        return None
    text: str = coerce_document(value, type_name, argument=argument).to_json()
    return text


def parse_model(document: str | None, type_name: str) -> Any:
    """Parse a returned document as the model ``type_name`` (None if HCS returned none).

    HCS is trusted here: a returned document that does not fit the schema still gives a
    model (unvalidated, members kept) rather than an error.
    """
    if document is None or not document.strip():
        return None
    model = _model(type_name)
    try:
        return model.model_validate_json(document)
    except ValueError:
        import json

        return _lenient(model, json.loads(document))


def _lenient(model: Any, data: Any) -> Any:
    """Validate a returned document, tolerating what HCS is known to send.

    HCS writes some unsigned 32-bit members (exit codes that are HRESULTs) as signed
    numbers: those are read as the same 32 bits, unsigned. Anything else that does not fit
    leaves an unvalidated model with every member kept.
    """
    import pydantic

    if not isinstance(data, dict):
        return data
    for _ in range(8):
        try:
            return model.model_validate(data)
        except pydantic.ValidationError as exc:
            if not _unsign(data, exc.errors()):
                break
    return model.model_construct(**data)


def _unsign(data: Any, errors: Any) -> bool:
    """Rewrite negative 32-bit values that failed a ``>= 0`` check as unsigned (in place)."""
    fixed = False
    for error in errors:
        value = error.get("input")
        if error.get("type") != "greater_than_equal" or not isinstance(value, int):
            continue
        if not -(2**31) <= value < 0:
            continue
        *parents, last = error.get("loc", ())
        target = data
        try:
            for key in parents:
                target = target[key]
            if target[last] == value:
                target[last] = value & 0xFFFFFFFF
                fixed = True
        except (KeyError, IndexError, TypeError):
            continue
    return fixed


def parse_model_list(document: str | None, type_name: str) -> list[Any]:
    """Parse a returned JSON array as a list of ``type_name`` models ([] if none)."""
    if document is None or not document.strip():
        return []
    import json

    data = json.loads(document)
    if not isinstance(data, list):
        raise TypeError(f"HCS returned an unexpected document, not a list: {data!r}")
    model = _model(type_name)
    return [_lenient(model, item) for item in data]


def parse_data(data: Any, type_name: str) -> Any:
    """Validate already parsed JSON data as ``type_name`` (leniently; None stays None)."""
    if data is None:
        return None
    return _lenient(_model(type_name), data)
