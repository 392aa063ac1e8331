"""What an owner of a handle does when it is garbage-collected without being closed."""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Callable

__all__ = ["finalize_unclosed"]


def finalize_unclosed(owner: object, description: str, close: Callable[[], None]) -> None:
    """From ``owner.__del__``: warn that ``description`` was never closed, then ``close()``.

    The warning is a ``ResourceWarning`` attributed to the code that dropped ``owner``;
    ``close`` (which must not block: the finalizer may run on the loop's thread) is skipped
    while the interpreter shuts down. Neither raises.
    """
    with contextlib.suppress(Exception):
        warnings.warn(
            f"{description} was never closed (use 'async with' or aclose())",
            ResourceWarning,
            source=owner,
            stacklevel=3,
        )
    if sys.is_finalizing():
        return
    with contextlib.suppress(Exception):
        close()
