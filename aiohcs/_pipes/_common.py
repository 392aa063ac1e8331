"""What both pipe engines share: the owned pipe end, the stream base classes, loop wake-ups."""

from __future__ import annotations

import contextlib
import os
import select
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Final

import anyio
import anyio.abc

from aiohcs._bridge import current_backend, is_invalid_handle

__all__ = [
    "DEFAULT_CHUNK",
    "PIPE_BUFFER",
    "PipeReceiveStream",
    "PipeSendStream",
    "RawPipe",
    "grow_pipe",
    "loop_waker",
]

#: Bytes asked for per read (and the default ``max_bytes`` of ``receive``).
DEFAULT_CHUNK: Final = 65536


class RawPipe:
    """One end of an OS pipe that this process owns, closed exactly once.

    ``handle`` is the HANDLE value HCS handed out (closed with ``CloseHandle``), or None
    for a plain POSIX descriptor (closed with ``os.close``). ``fd`` is the POSIX
    descriptor behind it (``-1`` on Windows).
    """

    __slots__ = ("_close", "_lock", "closed", "fd", "handle")

    def __init__(self, fd: int, close: Callable[[], object], handle: int | None = None) -> None:
        self.fd = fd
        self.handle = handle
        self._close = close
        self._lock = threading.Lock()
        self.closed = False

    @classmethod
    def from_fd(cls, fd: int) -> RawPipe:
        """Own the POSIX descriptor ``fd`` (closed with ``os.close``)."""
        return cls(fd, lambda: os.close(fd))

    @classmethod
    def from_handle(cls, handle: int) -> RawPipe | None:
        """Own a pipe HANDLE from HCS (None if the value means "no handle")."""
        if is_invalid_handle(handle):
            return None
        from aiohcs._native import ffi, hcsim, lib

        h = ffi.cast("HANDLE", handle)
        # Windows: a real pipe HANDLE (hcsim's DLLs hand out real ones too); POSIX: hcsim's
        # stand-in for the descriptor behind it.
        fd = -1 if sys.platform == "win32" else int(hcsim.HcsimHandleToFd(h))

        def close() -> None:
            lib.CloseHandle(h)

        return cls(fd, close, handle)

    def close(self) -> None:
        """Close the pipe end (idempotent, thread-safe)."""
        with self._lock:  # (writers_gone never asks a closed handle)
            if self.closed:
                return
            self.closed = True
            self._close()

    def writers_gone(self) -> bool:
        """Read ends: True once every writer has closed (all output is in the pipe).

        Does not consume anything. False where it cannot be told without reading.
        """
        if sys.platform == "win32":
            with self._lock:
                return self.handle is not None and not self.closed and _peer_closed(self.handle)
        else:
            if self.fd < 0 or self.closed:
                return False
            poller = select.poll()
            poller.register(self.fd, select.POLLIN)
            try:
                events = poller.poll(0)
            except OSError:
                return False
            return any(ev & (select.POLLHUP | select.POLLERR) for _, ev in events)


if sys.platform == "win32":
    import ctypes
    from ctypes import wintypes

    class _PipeLocalInformation(ctypes.Structure):
        _fields_ = [
            (name, wintypes.ULONG)
            for name in (
                "NamedPipeType",
                "NamedPipeConfiguration",
                "MaximumInstances",
                "CurrentInstances",
                "InboundQuota",
                "ReadDataAvailable",
                "OutboundQuota",
                "WriteQuotaAvailable",
                "NamedPipeState",
                "NamedPipeEnd",
            )
        ]

    _NtQueryInformationFile = ctypes.WinDLL("ntdll").NtQueryInformationFile
    _NtQueryInformationFile.argtypes = [
        wintypes.HANDLE,
        ctypes.c_void_p,
        ctypes.c_void_p,
        wintypes.ULONG,
        ctypes.c_int,
    ]
    _NtQueryInformationFile.restype = ctypes.c_long
    _FILE_PIPE_LOCAL_INFORMATION = 24
    _FILE_PIPE_CLOSING_STATE = 4

    def _peer_closed(handle: int) -> bool:
        """True when the other end of pipe ``handle`` is closed (no I/O, nothing consumed).

        A pipe whose other end closed is in the closing state while data is still
        buffered in it; anything but a pipe, or a query that fails, answers False.
        """
        status_block = (ctypes.c_void_p * 2)()
        info = _PipeLocalInformation()
        status = _NtQueryInformationFile(
            handle,
            status_block,
            ctypes.byref(info),
            ctypes.sizeof(info),
            _FILE_PIPE_LOCAL_INFORMATION,
        )
        return status == 0 and int(info.NamedPipeState) == _FILE_PIPE_CLOSING_STATE


#: Kernel buffer asked for on a stdin pipe (Linux F_SETPIPE_SZ; best effort). Fewer
#: "pipe full" round trips through the event loop for bulk writes.
PIPE_BUFFER: Final = 1 << 20


def grow_pipe(fd: int) -> None:
    """Ask for a :data:`PIPE_BUFFER` kernel buffer on a pipe (Linux; best effort)."""
    if sys.platform != "win32":
        import fcntl

        setsz = getattr(fcntl, "F_SETPIPE_SZ", None)
        if setsz is not None:
            with contextlib.suppress(OSError):
                fcntl.fcntl(fd, setsz, PIPE_BUFFER)


def loop_waker() -> Callable[[Callable[[], object]], None]:
    """Return a thread-safe, non-blocking "run this on the current event loop soon"."""
    return current_backend().call_soon_threadsafe


class PipeReceiveStream(anyio.abc.ByteReceiveStream):
    """The read end of a process's stdout/stderr pipe (both engines).

    ``receive()`` returns whatever is available (at most ``max_bytes``) and raises
    ``anyio.EndOfStream`` once the writer closed and everything was read. A cancelled
    ``receive()`` never loses data: nothing is consumed unless it is returned.
    """

    #: "fd" or "thread".
    engine: str = ""
    _eof: bool
    _raw: RawPipe

    @property
    def at_eof(self) -> bool:
        """True once ``receive()`` reached the end of the stream."""
        return self._eof

    @property
    def closed(self) -> bool:
        """True once the stream was closed."""
        return self._raw.closed

    def output_complete(self) -> bool:
        """True when no more data can arrive: EOF seen, stream closed, or writers gone."""
        return self._eof or self._raw.closed or self._raw.writers_gone()

    def discard(self) -> None:
        """Close at once without waiting (for a stream that was never used)."""
        self._raw.close()

    async def read_all(self, max_bytes: int = DEFAULT_CHUNK) -> bytes:
        """Receive until end of stream and return everything."""
        parts: list[bytes] = []
        while True:
            try:
                parts.append(await self.receive(max_bytes))
            except anyio.EndOfStream:
                return b"".join(parts)


class PipeSendStream(anyio.abc.ByteSendStream):
    """The write end of a process's stdin pipe (both engines).

    ``send()`` returns once all of ``item`` was written to the pipe (backpressure: it
    waits while the pipe is full). If it is cancelled part-way, :attr:`bytes_written`
    still counts exactly the bytes that were written, so a caller can resume without
    loss or duplication. ``aclose()`` closes the pipe: the process reads end of file.
    """

    engine: str = ""
    _raw: RawPipe
    _after_close: Callable[[], Awaitable[None]] | None

    @property
    def bytes_written(self) -> int:
        """Total bytes written to the pipe so far (exact, also after a cancelled send)."""
        raise NotImplementedError

    async def send(self, item: bytes | bytearray | memoryview) -> None:
        """Write all of ``item`` (any bytes-like object); waits while the pipe is full."""
        raise NotImplementedError

    @property
    def closed(self) -> bool:
        """True once the stream was closed."""
        return self._raw.closed

    def discard(self) -> None:
        """Close at once without waiting or the close hook (for a stream never used)."""
        self._raw.close()

    async def send_eof(self) -> None:
        """Close the stream (the process sees end of file); same as ``aclose()``."""
        await self.aclose()

    async def _run_after_close(self) -> None:
        hook, self._after_close = self._after_close, None
        if hook is not None:
            await hook()


def as_view(item: Any) -> memoryview:
    """A flat byte view of a bytes-like object."""
    view = memoryview(item)
    if view.ndim != 1 or view.itemsize != 1:
        view = view.cast("B")
    return view
