"""JSON text in and out: the one place aiohcs reads and writes JSON.

aiohcs writes compact documents. What HCS sends is read strictly where the caller needs the
data (:func:`read`), and leniently where a malformed document must not hide something more
important, such as an event or an error (:func:`read_lenient`, :func:`read_object`).
Validation against the schema models is :mod:`aiohcs._documents`'s (pydantic reads the text
of a document it validates itself, ``model_validate_json``: that is validation, not a second
JSON reader).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["JSONDecodeError", "read", "read_lenient", "read_object", "write"]

#: What :func:`read` raises for text that is not JSON (a ``ValueError``).
JSONDecodeError = json.JSONDecodeError


def read(text: str | bytes) -> Any:
    """Parse JSON text; raise ``ValueError`` if it is not JSON."""
    return json.loads(text)


def read_lenient(text: str | bytes | None) -> Any:
    """Parse JSON text; None for None, blank text or text that is not JSON."""
    if text is None or not text.strip():
        return None
    try:
        return json.loads(text)
    except (ValueError, TypeError, RecursionError):
        return None


def read_object(text: str | bytes | None) -> dict[str, Any] | None:
    """Parse a JSON object leniently: anything that is not one gives None."""
    parsed = read_lenient(text)
    return parsed if isinstance(parsed, dict) else None


def write(
    value: Any,
    *,
    default: Callable[[Any], Any] | None = None,
    allow_nan: bool = True,
    ensure_ascii: bool = True,
    compact: bool = True,
    indent: int | None = None,
) -> str:
    """JSON text of ``value``: compact, or spaced for people to read.

    ``compact=False`` spaces it as ``json.dumps`` does; ``indent`` also breaks lines.
    """
    separators = (",", ":") if compact and indent is None else None
    return json.dumps(
        value,
        separators=separators,
        indent=indent,
        default=default,
        allow_nan=allow_nan,
        ensure_ascii=ensure_ascii,
    )
