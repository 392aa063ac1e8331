"""The POSIX engine: non-blocking descriptors awaited with ``anyio.wait_readable/writable``.

No thread: the event loop's selector watches the descriptor. Each ``receive()`` has its
schedule and cancellation points before anything is consumed (a checkpoint on entry,
``wait_readable`` while the pipe is empty); once ``os.read`` returned data it returns
without yielding again, so the data is always delivered. ``send()`` likewise checkpoints
on entry and only waits (``wait_writable``) while the pipe is full; what it wrote before
a cancellation is counted in ``bytes_written``.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Awaitable, Callable

import anyio
import anyio.lowlevel

from aiohcs._pipes._common import (
    DEFAULT_CHUNK,
    PipeReceiveStream,
    PipeSendStream,
    RawPipe,
    as_view,
    grow_pipe,
)

__all__ = ["FdReceiveStream", "FdSendStream"]

# POSIX only (aiohcs._pipes.resolve_engine refuses "fd" on Windows); this also tells type
# checkers to skip the rest of the module for Windows.
assert sys.platform != "win32", "the fd pipe engine is POSIX-only"


def _close_raw(raw: RawPipe) -> None:
    if raw.closed:
        return
    if raw.fd >= 0:
        anyio.notify_closing(raw.fd)
    raw.close()


class FdReceiveStream(PipeReceiveStream):
    """Read end on a non-blocking POSIX descriptor."""

    engine = "fd"

    def __init__(self, raw: RawPipe) -> None:
        if raw.fd < 0:
            raise ValueError("the fd engine needs a POSIX descriptor")
        os.set_blocking(raw.fd, False)
        self._raw = raw
        self._eof = False
        self._guard = anyio.ResourceGuard("reading from")

    async def receive(self, max_bytes: int = DEFAULT_CHUNK) -> bytes:
        """Receive up to ``max_bytes`` bytes (at least one); EndOfStream at the end."""
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        with self._guard:
            await anyio.lowlevel.checkpoint()  # the schedule point: nothing consumed yet
            raw = self._raw
            while True:
                if raw.closed:
                    raise anyio.ClosedResourceError
                if self._eof:
                    raise anyio.EndOfStream
                try:
                    data = os.read(raw.fd, max_bytes)
                except BlockingIOError:
                    # The only cancellation point after entry; nothing consumed yet.
                    await anyio.wait_readable(raw.fd)
                    continue
                except OSError as exc:
                    if exc.errno == errno.EIO:  # a pty whose other side closed
                        data = b""
                    elif exc.errno == errno.EBADF and raw.closed:
                        raise anyio.ClosedResourceError from None
                    else:
                        raise anyio.BrokenResourceError(str(exc)) from exc
                break
            if not data:
                self._eof = True
                raise anyio.EndOfStream
            return data

    async def aclose(self) -> None:
        """Close the read end (a writer still writing gets EPIPE)."""
        _close_raw(self._raw)
        await anyio.lowlevel.checkpoint()

    def __del__(self) -> None:
        raw = getattr(self, "_raw", None)
        if raw is not None and not raw.closed:
            raw.close()


class FdSendStream(PipeSendStream):
    """Write end on a non-blocking POSIX descriptor."""

    engine = "fd"

    def __init__(
        self, raw: RawPipe, after_close: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        if raw.fd < 0:
            raise ValueError("the fd engine needs a POSIX descriptor")
        os.set_blocking(raw.fd, False)
        grow_pipe(raw.fd)
        self._raw = raw
        self._after_close = after_close
        self._guard = anyio.ResourceGuard("writing to")
        self._written = 0

    @property
    def bytes_written(self) -> int:
        """Total bytes written to the pipe so far."""
        return self._written

    async def send(self, item: bytes | bytearray | memoryview) -> None:
        """Write all of ``item``; waits while the pipe is full."""
        with self._guard:
            await anyio.lowlevel.checkpoint()  # the schedule point: nothing consumed yet
            raw = self._raw
            view = as_view(item)
            while view:
                if raw.closed:
                    raise anyio.ClosedResourceError
                try:
                    n = os.write(raw.fd, view)
                except BlockingIOError:
                    await anyio.wait_writable(raw.fd)
                    continue
                except (BrokenPipeError, ConnectionResetError) as exc:
                    raise anyio.BrokenResourceError("the process closed its stdin") from exc
                except OSError as exc:
                    if exc.errno == errno.EBADF and raw.closed:
                        raise anyio.ClosedResourceError from None
                    raise anyio.BrokenResourceError(str(exc)) from exc
                self._written += n
                view = view[n:]

    async def aclose(self) -> None:
        """Close the write end: the process reads end of file."""
        if not self._raw.closed:
            _close_raw(self._raw)
            with anyio.CancelScope(shield=True):
                await self._run_after_close()
        await anyio.lowlevel.checkpoint()

    def __del__(self) -> None:
        raw = getattr(self, "_raw", None)
        if raw is not None and not raw.closed:
            raw.close()
