"""Out of descriptors, memory or threads: the typed error for it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from aiohcs.errors import RESOURCE_ERRNOS, HResult, ResourceExhausted

__all__ = ["resource_error", "typed_resource_errors"]


def resource_error(
    exc: BaseException,
    *,
    operation: str | None = None,
    system_id: str | None = None,
    process_id: int | None = None,
) -> ResourceExhausted | None:
    """The typed error for ``exc`` if it means this process is out of a resource, else None.

    Out of descriptors or memory (``OSError`` EMFILE/ENFILE/ENOMEM, ``MemoryError``) and a
    thread that cannot be started (threading's ``RuntimeError``) are
    :class:`~aiohcs.errors.ResourceExhausted`; the keywords are its context.
    """
    if isinstance(exc, OSError) and exc.errno in RESOURCE_ERRNOS:
        return ResourceExhausted.from_os_error(
            exc, operation=operation, system_id=system_id, process_id=process_id
        )
    text: str | None = None
    if isinstance(exc, MemoryError):
        text = str(exc) or None
    elif type(exc) is RuntimeError and "thread" in str(exc):
        # (threading.Thread.start: "can't start new thread": out of memory, or of the
        # threads this process may have)
        text = str(exc)
    else:
        return None
    return ResourceExhausted(
        HResult.E_OUTOFMEMORY,
        text,
        operation=operation,
        system_id=system_id,
        process_id=process_id,
    )


@contextlib.contextmanager
def typed_resource_errors(operation: str | None = None) -> Iterator[None]:
    """Raise :func:`resource_error` of what the block raises, if it has one."""
    try:
        yield
    except (OSError, MemoryError, RuntimeError) as exc:
        error = resource_error(exc, operation=operation)
        if error is None:
            raise
        raise error from exc
