"""Document arguments and results: validation against the HCS schema models.

Every public call that takes a document accepts a model, a mapping or JSON text; it is
validated as its :mod:`aiohcs.schema` type before anything reaches HCS (a failure raises
:class:`~aiohcs.errors.InvalidDocumentError` naming the JSON path of the bad member) and
serialized with unknown (extension) members kept. A document nested more than
:data:`MAX_DEPTH` levels deep (objects and arrays), or with a string HCS cannot take (a NUL
character, where HCS would cut it; a lone surrogate), is refused the same way, whatever its
type. Returned documents are parsed into models.

The models (and pydantic) load on the first call that needs them, not at ``import aiohcs``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

from aiohcs import _json
from aiohcs.errors import (
    RESOURCE_ERRNOS,
    InvalidArgumentTypeError,
    InvalidDocumentError,
    ResourceExhausted,
)

__all__ = [
    "MAX_DEPTH",
    "coerce_document",
    "document_text",
    "object_text",
    "parse_document",
    "parse_model",
    "parse_model_list",
    "to_document",
]

#: The deepest nesting of objects and arrays a document may have (the documents HCS
#: defines are under 10 deep; hcsim's parser refuses more than 64, as a parser must
#: stop somewhere). Deeper documents raise InvalidDocumentError before reaching HCS.
MAX_DEPTH: Final = 64

# A \u0000 escape that is not an escaped backslash followed by "u0000".
_NUL_ESCAPE: Final = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
# A \uD800-\uDFFF escape: a surrogate, which must be half of a pair.
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")
# A JSON string (with its escapes) or one bracket: what the depth scan looks at.
_STRING_OR_BRACKET: Final = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


@contextlib.contextmanager
def _loading(what: str) -> Iterator[None]:
    """Out of descriptors or memory while loading schema models: ResourceExhausted."""
    try:
        yield
    except OSError as exc:  # e.g. reading a model module's file
        if exc.errno not in RESOURCE_ERRNOS:
            raise
        raise ResourceExhausted.from_os_error(exc, operation=f"loading {what}") from exc


@functools.cache
def _model(type_name: str) -> Any:
    from aiohcs import schema

    with _loading(f"the schema type {type_name}"):
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


# The schema types whose models load_models has loaded (and built the validators of).
_loaded: set[str] = set()


def load_models(names: Iterable[str]) -> None:
    """Load the models of the schema types ``names`` and build their validators, once each.

    Any thread (a worker's: the imports take a while). Raises what loading raises; the
    types loaded before that stay loaded.
    """
    for name in names:
        if name not in _loaded:
            model = _model(name)
            with _loading(f"the schema type {name}"):
                model.model_rebuild()
            _loaded.add(name)


def unloaded_models(names: Iterable[str]) -> tuple[str, ...]:
    """The types of ``names`` that :func:`load_models` has not loaded yet."""
    return tuple(name for name in names if name not in _loaded)


def warm_up() -> None:
    """Load pydantic and the common schema models and build their validators.

    Any thread: the bridge runs this in a worker thread before the first call of the
    process, so that the loop never waits for these imports (~0.1-0.2 s).
    """
    load_models(_COMMON_TYPES)


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
    except RecursionError:
        raise _too_deep(type_name, argument) from None


def _too_deep(type_name: str, argument: str | None) -> InvalidDocumentError:
    return InvalidDocumentError(
        type_name, [("", f"nested more than {MAX_DEPTH} levels deep")], argument=argument
    )


def _depth(text: str) -> int:
    """The deepest nesting of objects and arrays in JSON ``text`` (strings skipped)."""
    depth = deepest = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
    return deepest


def _check_text(text: str, type_name: str, argument: str | None) -> str:
    """``text`` if HCS can take it: not too deep, no NUL in a string."""
    # (A document deeper than MAX_DEPTH has more than 2 * MAX_DEPTH brackets.)
    if len(text) > 2 * MAX_DEPTH and _depth(text) > MAX_DEPTH:
        raise _too_deep(type_name, argument)
    if "\\u0000" in text and _NUL_ESCAPE.search(text):
        problem = "a string contains a NUL character (HCS strings end at the first NUL)"
        raise InvalidDocumentError(type_name, [("", problem)], argument=argument)
    if _SURROGATE_ESCAPE.search(text):
        try:
            _json.write(_json.read(text), ensure_ascii=False).encode("utf-16-le")
        except UnicodeEncodeError:
            problem = "a string contains a lone surrogate (HCS strings are UTF-16)"
            raise InvalidDocumentError(type_name, [("", problem)], argument=argument) from None
    return text


def document_text(value: Any, type_name: str, *, argument: str | None = None) -> str | None:
    """The validated JSON text for a document argument (None stays None)."""
    if value is None:
        return None
    model = coerce_document(value, type_name, argument=argument)
    try:
        text: str = model.to_json()
    except RecursionError:
        raise _too_deep(type_name, argument) from None
    except ValueError as exc:  # pydantic's serialization errors (depth, unencodable values)
        if "depth" in str(exc):
            raise _too_deep(type_name, argument) from None
        raise InvalidDocumentError(type_name, [("", str(exc))], argument=argument) from None
    return _check_text(text, type_name, argument)


def object_text(value: Any, *, argument: str) -> str | None:
    """JSON text for a document argument that has no schema type: a JSON object.

    ``value``: None (stays None), a model, a mapping or JSON text of an object. Anything
    else raises :class:`~aiohcs.errors.InvalidArgumentTypeError`; text that is not a JSON
    object, or a mapping that cannot be written as one, raises InvalidDocumentError.
    """
    what = "JSON object"
    if value is None:
        return None
    dump = getattr(value, "to_json", None)
    try:
        if callable(dump) and not isinstance(value, (str, Mapping)):
            text: str = dump()
        elif isinstance(value, Mapping):
            text = _json.write(value, allow_nan=False)
        elif isinstance(value, str):
            parsed = _json.read(value)
            if not isinstance(parsed, dict):
                problem = f"expected a JSON object, not {type(parsed).__name__}"
                raise InvalidDocumentError(what, [("", problem)], argument=argument)
            text = value
        else:
            raise InvalidArgumentTypeError(
                f"{argument} must be a mapping, a model or JSON text, not {type(value).__name__}"
            )
    except RecursionError:
        raise _too_deep(what, argument) from None
    except (TypeError, ValueError) as exc:
        if isinstance(exc, InvalidDocumentError | InvalidArgumentTypeError):
            raise
        raise InvalidDocumentError(what, [("", str(exc))], argument=argument) from None
    return _check_text(text, what, argument)


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
        return _lenient(model, _json.read(document))


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
    data = _json.read(document)
    if not isinstance(data, list):
        raise TypeError(f"HCS returned an unexpected document, not a list: {data!r}")
    model = _model(type_name)
    return [_lenient(model, item) for item in data]


def parse_data(data: Any, type_name: str) -> Any:
    """Validate already parsed JSON data as ``type_name`` (leniently; None stays None)."""
    if data is None:
        return None
    return _lenient(_model(type_name), data)


def to_document(value: Any) -> str | None:
    """Return an HCS JSON document from a model, a mapping/sequence, JSON text or None."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8")
    dump = getattr(value, "model_dump_json", None)
    if dump is not None:
        text: str = dump(by_alias=True, exclude_none=True)
        return text
    if isinstance(value, (Mapping, Sequence)):
        return _json.write(value, default=_json_default)
    raise InvalidArgumentTypeError(f"cannot make an HCS document from {type(value).__name__}")


def _json_default(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        return dump(by_alias=True, exclude_none=True, mode="json")
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def parse_document(document: str | None) -> Any:
    """Parse a returned JSON document (None stays None)."""
    if document is None or not document.strip():
        return None
    return _json.read(document)
