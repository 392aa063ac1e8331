"""A process's std streams: made from the pipe handles HCS returns, and drained at the exit.

:func:`open_streams` wraps the pipe handles of a new process in anyio byte streams
(:mod:`aiohcs._pipes`), leaving none open if one cannot be made. :func:`wait_outputs`
is the drain rule of :meth:`aiohcs.process.Process.wait`: after the exit, wait (bounded)
until every byte the process wrote can be read, that is until the write side of each
output pipe is closed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import anyio

from aiohcs._bridge import resource_error
from aiohcs._pipes import PipeReceiveStream, PipeSendStream, RawPipe, receive_stream, send_stream

if TYPE_CHECKING:
    from aiohcs._bridge import ProcessInfo

__all__ = ["Streams", "open_streams", "wait_outputs"]

#: stdin, stdout, stderr (None for a stream not asked for).
Streams = tuple[PipeSendStream | None, PipeReceiveStream | None, PipeReceiveStream | None]


def open_streams(
    info: ProcessInfo,
    engine: str,
    after_stdin_close: Callable[[], Awaitable[None]],
    **ids: Any,
) -> Streams:
    """Wrap the pipe handles in streams; on failure none is left open.

    The caller then stops the process. Out of descriptors or memory:
    :class:`~aiohcs.errors.ResourceExhausted` (``ids`` go into it).
    """
    raws = [RawPipe.from_handle(h) for h in (info.std_input, info.std_output, info.std_error)]
    stdin: PipeSendStream | None = None
    stdout: PipeReceiveStream | None = None
    stderr: PipeReceiveStream | None = None
    try:
        if raws[0] is not None:
            stdin = send_stream(raws[0], engine, after_close=after_stdin_close)
        if raws[1] is not None:
            stdout = receive_stream(raws[1], engine)
        if raws[2] is not None:
            stderr = receive_stream(raws[2], engine)
    except BaseException as exc:
        for raw, stream in zip(raws, (stdin, stdout, stderr), strict=True):
            if stream is not None:
                stream.discard()  # (closes its pipe, or has its pump thread close it)
            elif raw is not None:
                raw.close()
        # Out of descriptors, memory or threads (a pump of the thread engine).
        typed = resource_error(exc, operation="CreateProcess", **ids)
        if typed is not None:
            raise typed from exc
        raise
    return stdin, stdout, stderr


async def wait_outputs(
    outputs: Sequence[tuple[str, PipeReceiveStream | None]], timeout: float
) -> tuple[str, ...]:
    """Wait up to ``timeout`` s for the output pipes to complete; the names of those still open."""
    pending = [name for name, s in outputs if s is not None and not s.output_complete()]
    if not pending:
        return ()
    deadline = anyio.current_time() + timeout
    delay = 0.001
    while pending:
        remaining = deadline - anyio.current_time()
        if remaining <= 0:
            return tuple(pending)
        await anyio.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.05)
        pending = [name for name, s in outputs if s is not None and not s.output_complete()]
    return ()
