"""The checks of string arguments bound for HCS, shared by every caller.

One place decides what a string HCS can take looks like: a ``str`` (never ``bytes``,
``None`` or a number where a string goes) without a NUL character (HCS strings are
NUL-terminated: C would cut one short there) or a lone surrogate (they are UTF-16). Ids
and namespaces must not be empty either. :func:`aiohcs._native.to_wide`,
:mod:`aiohcs.system`, :mod:`aiohcs.process` and :mod:`aiohcs.testing` all check through
here. Like :mod:`aiohcs.errors`, the only thing it imports, it is light
and importable from anywhere in the package.
"""

from __future__ import annotations

import ntpath
import os
import posixpath
import sys
import uuid
from typing import Any

from aiohcs._guid import guid_from_text
from aiohcs.errors import InvalidArgumentError, InvalidArgumentTypeError

__all__ = ["check_host_path", "check_name", "check_namespace", "check_path", "check_text"]


def check_text(
    value: Any, what: str = "string", *, allow_empty: bool = True, expected: str = "a str"
) -> str:
    """``value`` if HCS can take it as a string: a ``str`` without NUL.

    Raises :class:`InvalidArgumentTypeError` for another type and
    :class:`InvalidArgumentError` for a NUL or a lone surrogate inside (UTF-16 cannot carry
    one), or for ``""`` unless ``allow_empty``.
    ``what`` names the argument in the messages, ``expected`` what it must be.
    """
    if not isinstance(value, str):
        raise InvalidArgumentTypeError(f"{what} must be {expected}, not {type(value).__name__}")
    if not value and not allow_empty:
        raise InvalidArgumentError(f"{what} must not be empty")
    if "\0" in value:
        raise InvalidArgumentError(
            f"{what} contains a NUL character at index {value.index(chr(0))}; HCS strings "
            "are NUL-terminated, so it would be cut short"
        )
    if not value.isascii():
        try:
            value.encode("utf-16-le")
        except UnicodeEncodeError as exc:
            raise InvalidArgumentError(
                f"{what} contains a lone surrogate (U+{ord(value[exc.start]):04X} at index "
                f"{exc.start}); HCS strings and JSON documents are UTF-16 and cannot carry one"
            ) from None
    return value


def check_name(value: Any, what: str) -> str:
    """``value`` if it can be a system id (or a namespace): a non-empty ``str`` without NUL."""
    return check_text(value, what, allow_empty=False)


def check_namespace(value: Any) -> str | None:
    """``value`` if it can be a namespace: None (the default namespace) or a name."""
    if value is None:
        return None
    if isinstance(value, str) and not value:
        raise InvalidArgumentError("namespace must not be empty (None is the default namespace)")
    return check_text(value, "namespace", expected="a str or None")


def check_path(value: Any, what: str) -> str:
    """``value`` (``str`` or ``os.PathLike``) as a non-empty path string without NUL."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    return check_text(value, what, allow_empty=False, expected="a str or os.PathLike path")


def check_host_path(value: Any, what: str, *, windows: bool | None = None) -> str:
    r"""``value`` as an absolute host path HCS can take (``str`` or ``os.PathLike``).

    HCS and its helpers resolve paths in the compute service, not in the caller's working
    directory, so a relative path is refused: on Windows the path must name a drive or a
    share (``C:\vm\disk.vhdx``, ``\\server\share\x``, ``\\?\C:\x``);
    elsewhere (hcsim) it must start with ``/``. ``windows`` chooses the rules (default: this
    host's). Raises :class:`InvalidArgumentError` (or its ``TypeError`` subclass).
    """
    path = check_path(value, what)
    if windows is None:
        windows = sys.platform == "win32"
    if windows:
        drive, _ = ntpath.splitdrive(path)
        absolute = bool(drive) and ntpath.isabs(path)
        rule = "a drive or share (C:\\..., \\\\server\\share\\...)"
    else:
        absolute = posixpath.isabs(path)
        rule = "'/'"
    if not absolute:
        raise InvalidArgumentError(
            f"{what} must be an absolute path starting with {rule}, not {path!r}: HCS resolves "
            "paths in the compute service, not in this process's working directory"
        )
    return path


def check_guid(value: Any, what: str = "id") -> uuid.UUID:
    """``value`` as a :class:`uuid.UUID`: a UUID, or its text in any case, braces optional.

    Raises :class:`~aiohcs.errors.InvalidArgumentTypeError` for another type and
    :class:`~aiohcs.errors.InvalidArgumentError` for text that is not a GUID.
    """
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        raise InvalidArgumentTypeError(
            f"{what} must be a uuid.UUID or a GUID string, not {type(value).__name__}"
        )
    guid = guid_from_text(value)
    if guid is None:
        raise InvalidArgumentError(
            f"{what} must be a GUID such as '0f5a3e4c-8a4b-4f7e-9d2c-1b6e0a9d3c21' "
            f"(braces optional), not {value!r}"
        )
    return guid
