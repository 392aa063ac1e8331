"""Async byte streams over a process's std pipes, with two engines.

* ``"fd"`` (POSIX, the default there): non-blocking descriptors awaited with
  ``anyio.wait_readable``/``wait_writable``; no thread (:mod:`aiohcs._pipes._fd`).
* ``"thread"`` (the Windows engine, the only one there): one pump thread per pipe doing
  blocking I/O with a bounded buffer; it runs on POSIX too so that CI exercises it
  (:mod:`aiohcs._pipes._thread`).

Both give the same streams (:class:`PipeReceiveStream`, :class:`PipeSendStream`) with the
same guarantees: a cancelled receive loses nothing, a cancelled send reports exactly what
it wrote (``bytes_written``), a consumer that stops reading stops the producer.

The engine is chosen per process (``open_process(..., pipe_engine=...)``) or for the whole
program with the environment variable ``AIOHCS_PIPE_ENGINE`` (``fd`` or ``thread``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from typing import Final, Literal

from aiohcs._pipes._common import DEFAULT_CHUNK, PipeReceiveStream, PipeSendStream, RawPipe

__all__ = [
    "DEFAULT_CHUNK",
    "ENGINES",
    "ENGINE_ENV",
    "Engine",
    "PipeReceiveStream",
    "PipeSendStream",
    "RawPipe",
    "default_engine",
    "receive_stream",
    "resolve_engine",
    "send_stream",
]

Engine = Literal["fd", "thread"]
#: The engines of this platform (the descriptor engine is POSIX only).
ENGINES: Final[tuple[Engine, ...]] = ("thread",) if sys.platform == "win32" else ("fd", "thread")
#: Environment variable that selects the default engine.
ENGINE_ENV: Final = "AIOHCS_PIPE_ENGINE"


def default_engine() -> Engine:
    """The engine used when none is given: ``$AIOHCS_PIPE_ENGINE``, else the platform's."""
    if sys.platform == "win32":
        return "thread"
    else:
        value = os.environ.get(ENGINE_ENV, "").strip().lower()
        if value in ("", "fd"):
            return "fd"
        if value == "thread":
            return "thread"
        raise ValueError(f"{ENGINE_ENV} must be 'fd' or 'thread', not {value!r}")


def resolve_engine(engine: str | None) -> Engine:
    """Validate ``engine`` (None = :func:`default_engine`)."""
    if engine is None:
        return default_engine()
    if engine == "thread":
        return "thread"
    if engine == "fd":
        if sys.platform == "win32":
            raise ValueError("the 'fd' pipe engine is POSIX-only; use 'thread' on Windows")
        else:
            return "fd"
    raise ValueError(f"pipe engine must be 'fd' or 'thread', not {engine!r}")


def receive_stream(raw: RawPipe, engine: str | None = None) -> PipeReceiveStream:
    """Return a receive stream that owns ``raw`` (closing the stream closes the pipe)."""
    chosen = resolve_engine(engine)
    if sys.platform != "win32" and chosen == "fd":
        from aiohcs._pipes._fd import FdReceiveStream

        return FdReceiveStream(raw)
    from aiohcs._pipes._thread import ThreadReceiveStream

    return ThreadReceiveStream(raw)


def send_stream(
    raw: RawPipe,
    engine: str | None = None,
    *,
    after_close: Callable[[], Awaitable[None]] | None = None,
) -> PipeSendStream:
    """Return a send stream that owns ``raw``; ``after_close`` runs once after it closed."""
    chosen = resolve_engine(engine)
    if sys.platform != "win32" and chosen == "fd":
        from aiohcs._pipes._fd import FdSendStream

        return FdSendStream(raw, after_close)
    from aiohcs._pipes._thread import ThreadSendStream

    return ThreadSendStream(raw, after_close)
