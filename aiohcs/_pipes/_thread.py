"""The pump-thread engine: one thread per pipe doing blocking I/O (ARCHITECTURE.md invariant 3).

Windows' anonymous pipes cannot be waited on by an event loop, so each pipe gets one pump
thread. A read pump reads ahead into a bounded buffer (``limit`` bytes): when the consumer
stops reading, the buffer fills, the pump stops reading and the pipe — then the process —
blocks (backpressure; memory stays bounded). A write pump writes the buffer of the one
``send()`` in progress; ``send()`` returns when it is written.

Stopping a pump blocked in I/O:

* Windows: ``CancelIoEx`` on the handle makes the blocking ``ReadFile``/``WriteFile`` fail
  with ``ERROR_OPERATION_ABORTED``. A cancel issued just before the pump enters the call
  would be lost, so the loop side repeats it until the pump acknowledges. A cancelled write
  reports nothing written even if the reader took part of it, so writes hand over at most
  4 KiB each and a write in progress is given 50 ms to finish before it is cancelled.
* POSIX (so that CI runs this engine on Linux): the pump blocks in ``poll()`` on the pipe
  and on a per-pump wake descriptor (an eventfd, or a self-pipe elsewhere), then does one
  non-blocking read/write. Interrupting = making the wake descriptor readable; it stays so
  until the pump consumed it, so no interrupt is ever lost. Closing a descriptor under a
  blocked ``read`` would neither wake it nor be safe (the number can be reused at once).

Each pump starts with its stream, so that a thread that cannot be started fails the start
of the process (which is then stopped) rather than a later read or write. A pump owns the
pipe once started and closes it itself when it ends; ``aclose()`` asks it
to stop and waits (shielded, briefly) for that, so the handle is closed when it returns.
The pump threads hand results to the event loop with its thread-safe "call soon" and never
block on it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import select
import sys
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import anyio
import anyio.lowlevel

from aiohcs._pipes._common import (
    DEFAULT_CHUNK,
    PipeReceiveStream,
    PipeSendStream,
    RawPipe,
    as_view,
    grow_pipe,
    loop_waker,
)

__all__ = ["DEFAULT_LIMIT", "ThreadReceiveStream", "ThreadSendStream"]

#: Read-ahead bound of a receive pump, in bytes.
DEFAULT_LIMIT: Final = 256 * 1024
# How often the loop side repeats an interrupt until the pump acknowledges it.
_INTERRUPT_RETRY: Final = 0.02


class _Interrupted(Exception):
    """The blocking call was interrupted (the pump then checks why)."""


class _BlockingIO:
    """Blocking read/write on one pipe end that another thread can interrupt."""

    def read(self, n: int) -> bytes:
        raise NotImplementedError

    def write(self, view: memoryview) -> int:
        raise NotImplementedError

    def interrupt(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the interrupter holds (not the pipe)."""


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import ctypes
    from ctypes import wintypes

    _kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    _ReadFile = _kernel32.ReadFile
    _ReadFile.argtypes = [
        wintypes.HANDLE,
        ctypes.c_void_p,
        wintypes.DWORD,
        ctypes.POINTER(wintypes.DWORD),
        ctypes.c_void_p,
    ]
    _ReadFile.restype = wintypes.BOOL
    _WriteFile = _kernel32.WriteFile
    _WriteFile.argtypes = _ReadFile.argtypes
    _WriteFile.restype = wintypes.BOOL
    _CancelIoEx = _kernel32.CancelIoEx
    _CancelIoEx.argtypes = [wintypes.HANDLE, ctypes.c_void_p]
    _CancelIoEx.restype = wintypes.BOOL
    _ERROR_BROKEN_PIPE = 109
    _ERROR_NO_DATA = 232
    _ERROR_OPERATION_ABORTED = 995
    # The most one WriteFile hands over (the smallest pipe buffer Windows makes), and how
    # long a cancel waits for a write in progress before cutting it.
    _WRITE_CHUNK = 4096
    _WRITE_GRACE = 0.05

    class _WindowsIO(_BlockingIO):
        def __init__(self, handle: int) -> None:
            self.handle = wintypes.HANDLE(handle)
            # Once the pump is done with the handle (it closes it next), no CancelIoEx may
            # reach it: the value could already name another handle of this process.
            self._closed = False
            self._lock = threading.Lock()
            # A write in progress: when its cancel was first asked for (None: not yet).
            self._writing = False
            self._cancel_asked: float | None = None

        def read(self, n: int) -> bytes:
            buf = ctypes.create_string_buffer(n)
            got = wintypes.DWORD(0)
            if _ReadFile(self.handle, buf, n, ctypes.byref(got), None):
                return buf.raw[: got.value]
            err = ctypes.get_last_error()
            if err == _ERROR_OPERATION_ABORTED:
                raise _Interrupted
            if err == _ERROR_BROKEN_PIPE:
                return b""
            raise ctypes.WinError(err)

        def write(self, view: memoryview) -> int:
            # A cancelled WriteFile reports nothing written even when the reader took part
            # of it (ntdll's count is 0 too), and bytes sent again would be duplicated. So
            # writes are small, and a cancel first lets the one in progress finish
            # (interrupt): only a reader that takes nothing for _WRITE_GRACE is cancelled.
            n = min(len(view), _WRITE_CHUNK)
            data = (ctypes.c_char * n).from_buffer_copy(view[:n])
            done = wintypes.DWORD(0)
            with self._lock:
                self._writing, self._cancel_asked = True, None
            try:
                ok = _WriteFile(self.handle, data, n, ctypes.byref(done), None)
                err = 0 if ok else ctypes.get_last_error()
            finally:
                with self._lock:
                    self._writing = False
            if ok:
                return int(done.value)
            if err == _ERROR_OPERATION_ABORTED:
                if done.value:
                    return int(done.value)
                raise _Interrupted
            if err in (_ERROR_BROKEN_PIPE, _ERROR_NO_DATA):
                raise BrokenPipeError(errno.EPIPE, "the pipe is being closed")
            raise ctypes.WinError(err)

        def interrupt(self) -> None:
            with self._lock:
                if self._closed:
                    return
                if self._writing:
                    now = time.monotonic()
                    if self._cancel_asked is None:
                        self._cancel_asked = now
                    if now - self._cancel_asked < _WRITE_GRACE:
                        return  # (asked again until the write ends)
                _CancelIoEx(self.handle, None)

        def close(self) -> None:
            with self._lock:
                self._closed = True
else:

    class _PosixIO(_BlockingIO):
        def __init__(self, fd: int) -> None:
            self.fd = fd
            os.set_blocking(fd, False)
            if sys.platform == "linux":
                self.wake_r = self.wake_w = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
            else:  # pragma: no cover - POSIX without eventfd (macOS)
                self.wake_r, self.wake_w = os.pipe()
                for fd_ in (self.wake_r, self.wake_w):
                    os.set_blocking(fd_, False)
                    os.set_inheritable(fd_, False)
            self._closed = False
            self._lock = threading.Lock()

        def _wait(self, event: int) -> None:
            poller = select.poll()
            poller.register(self.fd, event)
            poller.register(self.wake_r, select.POLLIN)
            while True:
                try:
                    ready = poller.poll()
                except InterruptedError:
                    continue
                for fd, _ in ready:
                    if fd == self.wake_r:
                        with contextlib.suppress(BlockingIOError):
                            os.read(self.wake_r, 8)
                        raise _Interrupted
                if ready:
                    return

        def read(self, n: int) -> bytes:
            while True:
                try:
                    return os.read(self.fd, n)
                except BlockingIOError:
                    self._wait(select.POLLIN)
                except OSError as exc:
                    if exc.errno == errno.EIO:  # pty: the other side is gone
                        return b""
                    raise

        def write(self, view: memoryview) -> int:
            while True:
                try:
                    return os.write(self.fd, view)
                except BlockingIOError:
                    self._wait(select.POLLOUT)

        def interrupt(self) -> None:
            with self._lock:
                if self._closed:
                    return
                try:
                    if sys.platform == "linux":
                        os.eventfd_write(self.wake_w, 1)
                    else:
                        os.write(self.wake_w, b"\0")
                except BlockingIOError:
                    pass  # already pending

        def close(self) -> None:
            with self._lock:
                if self._closed:
                    return
                self._closed = True
                os.close(self.wake_r)
                if self.wake_w != self.wake_r:
                    os.close(self.wake_w)


def _make_io(raw: RawPipe) -> _BlockingIO:
    if sys.platform == "win32":  # pragma: no cover
        assert raw.handle is not None
        return _WindowsIO(raw.handle)
    else:
        if raw.fd < 0:
            raise ValueError("no descriptor behind this pipe")
        return _PosixIO(raw.fd)


class _Repeater:
    """Windows: one daemon thread repeats the interrupt of pumps nothing waits for.

    A CancelIoEx issued just before a pump enters ReadFile/WriteFile is lost, so a pump
    stopped by ``discard()`` or garbage collection is interrupted again until it ends.
    Its thread starts with the first pump (never in a finalizer, where starting a thread
    can deadlock, or hang at interpreter exit); a finalizer only puts on its queue.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[_BlockingIO, threading.Thread]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._started = False

    def start(self) -> None:
        with self._lock:
            if not self._started:
                thread = threading.Thread(target=self._run, name="aiohcs pump stop", daemon=True)
                thread.start()  # (threading's RuntimeError if it cannot: the pump fails)
                self._started = True

    def add(self, io: _BlockingIO, thread: threading.Thread) -> None:
        self._queue.put((io, thread))  # (SimpleQueue.put is safe in a finalizer)

    def _run(self) -> None:
        pumps: list[tuple[_BlockingIO, threading.Thread]] = []
        while True:
            with contextlib.suppress(queue.Empty):
                pumps.append(self._queue.get(timeout=_INTERRUPT_RETRY if pumps else None))
            pumps = [(io, thread) for io, thread in pumps if thread.is_alive()]
            for io, _ in pumps:
                io.interrupt()


_repeater = _Repeater()


def _interrupt_unawaited(io: _BlockingIO, thread: threading.Thread) -> None:
    """Interrupt a pump where nothing can wait for it (discard, garbage collection).

    POSIX: one interrupt is never lost. Windows: :class:`_Repeater` repeats it.
    """
    io.interrupt()
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        _repeater.add(io, thread)


async def _interrupt_until(io: _BlockingIO, done: anyio.Event) -> None:
    """Interrupt the pump until it acknowledges (shielded: it never blocks for long)."""
    with anyio.CancelScope(shield=True):
        while not done.is_set():
            io.interrupt()
            with anyio.move_on_after(_INTERRUPT_RETRY):
                await done.wait()


_Pump = TypeVar("_Pump", "_ReceivePump", "_SendPump")


def _stop_unawaited(pump: _ReceivePump | _SendPump) -> None:
    """Stop ``pump`` without waiting: its thread, if it runs, closes the pipe."""
    if pump.stop() and pump.thread is not None:
        _interrupt_unawaited(pump.io, pump.thread)


def _start(pump: _Pump) -> _Pump:
    """Start ``pump``'s thread now, when its stream is made.

    A thread that cannot be started then fails the process's start (where the process is
    stopped and every pipe closed), never a later read or write. On failure threading's
    ``RuntimeError`` is raised and the pump's own wake-up descriptor is closed; the pipe
    stays the caller's.
    """
    try:
        if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
            _repeater.start()
        pump.start()
    except BaseException:
        pump.io.close()
        raise
    return pump


class _ReceivePump:
    """The state a receive pump thread shares with its stream.

    Not the stream itself, so that a stream dropped without ``aclose()`` is still
    garbage-collected (and then stops its pump).
    """

    def __init__(self, raw: RawPipe, limit: int) -> None:
        self.raw = raw
        self.io = _make_io(raw)
        self.limit = max(1, limit)
        self.soon = loop_waker()
        self.lock = threading.Lock()
        self.space = threading.Condition(self.lock)
        self.chunks: deque[bytes] = deque()
        self.offset = 0  # bytes of chunks[0] already received
        self.size = 0  # bytes buffered and not yet received
        self.eof = False  # the pump saw end of file (or an error)
        self.error: OSError | None = None
        self.stopping = False
        self.waiter: anyio.Event | None = None
        self.thread: threading.Thread | None = None
        self.done = anyio.Event()

    def stopped(self) -> bool:
        return self.stopping

    def start(self) -> None:
        if self.thread is None and not self.raw.closed:
            thread = threading.Thread(target=self.run, name="aiohcs read pump", daemon=True)
            thread.start()  # (threading's RuntimeError if it cannot: then nothing changed)
            self.thread = thread

    def _publish(self) -> None:  # under the lock
        waiter, self.waiter = self.waiter, None
        if waiter is not None:
            self.soon(waiter.set)

    def run(self) -> None:
        io = self.io
        try:
            while True:
                with self.lock:
                    while self.size >= self.limit and not self.stopping:
                        self.space.wait()
                    if self.stopping:
                        return
                    room = min(DEFAULT_CHUNK, self.limit - self.size)
                try:
                    data = io.read(room)
                except _Interrupted:
                    continue  # the loop checks stopping at the top
                except OSError as exc:
                    with self.lock:
                        self.error = exc
                        self.eof = True
                        self._publish()
                    return
                with self.lock:
                    if self.stopped():
                        return
                    if data:
                        self.chunks.append(data)
                        self.size += len(data)
                    else:
                        self.eof = True
                    self._publish()
                if not data:
                    return
        finally:
            io.close()
            self.raw.close()
            self.soon(self.done.set)

    def take(self, max_bytes: int) -> bytes:  # under the lock, chunks not empty
        parts: list[bytes] = []
        want = max_bytes
        while want and self.chunks:
            first = self.chunks[0]
            end = self.offset + want
            if end >= len(first):
                piece = first[self.offset :] if self.offset else first
                self.chunks.popleft()
                self.offset = 0
            else:
                piece = first[self.offset : end]
                self.offset = end
            parts.append(piece)
            want -= len(piece)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        was_full = self.size >= self.limit
        self.size -= len(data)
        if was_full:
            self.space.notify()
        return data

    def stop(self) -> bool:
        """Ask the pump to stop; True if this was the first request."""
        with self.lock:
            first = not self.stopping
            self.stopping = True
            self.chunks.clear()
            self.offset = self.size = 0
            self.space.notify()
            waiter, self.waiter = self.waiter, None
        if waiter is not None:
            waiter.set() if self.thread is None else self.soon(waiter.set)
        if first and self.thread is None:
            self.io.close()
            self.raw.close()
        return first


class ThreadReceiveStream(PipeReceiveStream):
    """Read end served by a pump thread that reads ahead into a bounded buffer."""

    engine = "thread"

    def __init__(self, raw: RawPipe, *, limit: int = DEFAULT_LIMIT) -> None:
        self._raw = raw
        self._pump = _start(_ReceivePump(raw, limit))
        self._eof = False
        self._guard = anyio.ResourceGuard("reading from")

    @property
    def buffered(self) -> int:
        """Bytes read ahead by the pump and not yet received."""
        return self._pump.size

    def output_complete(self) -> bool:
        """True when no more data can arrive (see PipeReceiveStream)."""
        self._pump.start()
        return self._pump.eof or super().output_complete()

    async def receive(self, max_bytes: int = DEFAULT_CHUNK) -> bytes:
        """Receive up to ``max_bytes`` bytes (at least one); EndOfStream at the end."""
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        pump = self._pump
        with self._guard:
            await anyio.lowlevel.checkpoint_if_cancelled()
            pump.start()
            while True:
                with pump.lock:
                    if pump.stopping:
                        raise anyio.ClosedResourceError
                    if pump.chunks:
                        data = pump.take(max_bytes)
                        break
                    if pump.eof:
                        error = pump.error
                        if error is not None:
                            raise anyio.BrokenResourceError(str(error)) from error
                        self._eof = True
                        raise anyio.EndOfStream
                    if pump.thread is None:  # the pipe was already closed
                        raise anyio.ClosedResourceError
                    waiter = pump.waiter = anyio.Event()
                try:
                    await waiter.wait()  # the cancellation point; nothing consumed
                finally:
                    with pump.lock:
                        if pump.waiter is waiter:
                            pump.waiter = None
            await anyio.lowlevel.cancel_shielded_checkpoint()
            return data

    async def aclose(self) -> None:
        """Stop the pump and close the read end."""
        pump = self._pump
        pump.stop()
        if pump.thread is not None:
            await _interrupt_until(pump.io, pump.done)
        await anyio.lowlevel.checkpoint()

    def discard(self) -> None:
        """Close at once without waiting (for a stream that was never used)."""
        _stop_unawaited(self._pump)  # the pump closes the pipe

    def __del__(self) -> None:
        pump = getattr(self, "_pump", None)
        if pump is not None:
            _stop_unawaited(pump)


class _SendPump:
    """The state a send pump thread shares with its stream (see _ReceivePump)."""

    def __init__(self, raw: RawPipe) -> None:
        self.raw = raw
        self.io = _make_io(raw)
        self.soon = loop_waker()
        self.lock = threading.Lock()
        self.work = threading.Condition(self.lock)
        self.job: memoryview | None = None
        self.job_done: anyio.Event | None = None
        self.job_error: OSError | None = None
        self.cancel_job = False
        self.stopping = False
        self.written = 0
        self.thread: threading.Thread | None = None
        self.done = anyio.Event()

    def start(self) -> None:
        if self.thread is None:
            thread = threading.Thread(target=self.run, name="aiohcs write pump", daemon=True)
            thread.start()  # (threading's RuntimeError if it cannot: then nothing changed)
            self.thread = thread

    def run(self) -> None:
        io = self.io
        try:
            while True:
                with self.lock:
                    while self.job is None and not self.stopping:
                        self.work.wait()
                    if self.stopping:
                        return
                    view = self.job
                    assert view is not None
                event: anyio.Event | None = None
                finished = False
                while not finished:
                    error: OSError | None = None
                    try:
                        n = io.write(view)
                    except _Interrupted:
                        n = 0
                    except OSError as exc:
                        error, n = exc, 0
                    with self.lock:
                        self.written += n
                        view = view[n:]
                        if error is not None or not view or self.cancel_job or self.stopping:
                            finished = True
                            self.job = None
                            self.job_error = error
                            self.cancel_job = False
                            event, self.job_done = self.job_done, None
                if event is not None:
                    self.soon(event.set)
        finally:
            io.close()
            self.raw.close()
            self.soon(self.done.set)

    def stopped(self) -> bool:
        return self.stopping

    def last_error(self) -> OSError | None:
        return self.job_error

    def stop(self) -> bool:
        with self.lock:
            first = not self.stopping
            self.stopping = True
            self.work.notify()
        if first and self.thread is None:
            self.io.close()
            self.raw.close()
        return first


class ThreadSendStream(PipeSendStream):
    """Write end served by a pump thread that writes the buffer of the current ``send()``."""

    engine = "thread"

    def __init__(
        self, raw: RawPipe, after_close: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self._raw = raw
        if raw.fd >= 0:
            grow_pipe(raw.fd)
        self._pump = _start(_SendPump(raw))
        self._after_close = after_close
        self._guard = anyio.ResourceGuard("writing to")

    @property
    def bytes_written(self) -> int:
        """Total bytes written to the pipe so far."""
        return self._pump.written

    async def send(self, item: bytes | bytearray | memoryview) -> None:
        """Write all of ``item``; waits while the pipe is full."""
        pump = self._pump
        with self._guard:
            await anyio.lowlevel.checkpoint_if_cancelled()
            view = as_view(item)
            if pump.stopping or self._raw.closed:
                raise anyio.ClosedResourceError
            if not view:
                await anyio.lowlevel.cancel_shielded_checkpoint()
                return
            pump.start()
            done = anyio.Event()
            with pump.lock:
                pump.job = view
                pump.job_done = done
                pump.job_error = None
                pump.work.notify()
            try:
                await done.wait()
            except BaseException:
                # Ask the pump to stop this write and wait for its real outcome, so that
                # bytes_written is exact (IOCP style: request the cancel, await completion).
                with pump.lock:
                    if pump.job_done is done:
                        pump.cancel_job = True
                await _interrupt_until(pump.io, done)
                raise
            error = pump.last_error()
            if pump.stopped():
                raise anyio.ClosedResourceError
            if error is not None:
                if isinstance(error, (BrokenPipeError, ConnectionResetError)):
                    raise anyio.BrokenResourceError("the process closed its stdin") from error
                raise anyio.BrokenResourceError(str(error)) from error

    async def aclose(self) -> None:
        """Close the write end: the process reads end of file."""
        pump = self._pump
        if not pump.stop():
            await anyio.lowlevel.checkpoint()
            return
        if pump.thread is not None:
            await _interrupt_until(pump.io, pump.done)
        with anyio.CancelScope(shield=True):
            await self._run_after_close()
        await anyio.lowlevel.checkpoint()

    def discard(self) -> None:
        """Close at once without waiting or the close hook (for a stream never used)."""
        _stop_unawaited(self._pump)  # the pump closes the pipe

    def __del__(self) -> None:
        pump = getattr(self, "_pump", None)
        if pump is not None:
            _stop_unawaited(pump)
