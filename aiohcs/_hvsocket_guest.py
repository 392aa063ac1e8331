"""Hyper-V sockets on hcsim: the endpoints, and what a program inside a system uses.

hcsim sets ``HCSIM_HVSOCKET_DIR`` in every process it starts in a running system: the
system's private directory, where a guest program listens on ``<service id>.g`` (the host
connects to it) and connects to ``<service id>.h`` (where the host listens). On POSIX an
endpoint is a Unix socket at that path; on Windows, whose CPython has no AF_UNIX, it is a
loopback TCP socket whose port is written in a file at that path (hcsim/README.md,
"Hyper-V sockets"). This module needs neither the native binding nor hcsim, so a guest
program stays light.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sys
import threading
import uuid
import weakref
from typing import Final

import anyio
import anyio.abc

if sys.platform == "win32":
    import ctypes
    import hashlib
    from ctypes import wintypes

    # Windows: the lock is a named semaphore of count 1, not a file, so that an open
    # lock file does not keep hcsim from removing a system's directory (Windows does not
    # remove open files). A dead holder's handle is closed by the system, and the
    # semaphore goes with its last handle.
    _kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    _kernel32.CreateSemaphoreW.restype = wintypes.HANDLE
    _kernel32.CreateSemaphoreW.argtypes = (
        ctypes.c_void_p,
        wintypes.LONG,
        wintypes.LONG,
        wintypes.LPCWSTR,
    )
    _kernel32.WaitForSingleObject.restype = wintypes.DWORD
    _kernel32.WaitForSingleObject.argtypes = (wintypes.HANDLE, wintypes.DWORD)
    _kernel32.ReleaseSemaphore.argtypes = (wintypes.HANDLE, wintypes.LONG, ctypes.c_void_p)
    _kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
    _WAIT_OBJECT_0 = 0

    def _acquire(lock_path: str) -> int | None:
        """The held semaphore named after ``lock_path``, or None when it is taken."""
        key = os.path.normcase(os.path.abspath(lock_path)).encode()
        name = "Local\\hcsim-hvsock-" + hashlib.sha256(key).hexdigest()
        handle = _kernel32.CreateSemaphoreW(None, 1, 1, name)
        if not handle:
            raise ctypes.WinError(ctypes.get_last_error())
        if _kernel32.WaitForSingleObject(handle, 0) == _WAIT_OBJECT_0:
            return int(handle)
        _kernel32.CloseHandle(handle)
        return None

    def _release(held: int, lock_path: str) -> None:
        _kernel32.ReleaseSemaphore(held, 1, None)
        _kernel32.CloseHandle(held)

else:
    import fcntl

    def _acquire(lock_path: str) -> int | None:
        """A descriptor of ``lock_path`` holding its exclusive lock, or None when taken."""
        while True:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                # the holder removes the file before unlocking it: a lock taken on a file
                # removed meanwhile is no lock, so try again on the file now at lock_path
                with contextlib.suppress(FileNotFoundError):
                    if os.stat(lock_path).st_ino == os.fstat(fd).st_ino:
                        return fd
            except BlockingIOError:
                os.close(fd)
                return None
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)

    def _release(held: int, lock_path: str) -> None:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        os.close(held)  # (drops the lock)


#: The variable hcsim sets in the environment of every process it starts in a system.
HVSOCKET_DIR_ENV: Final = "HCSIM_HVSOCKET_DIR"

#: Windows: endpoints are port files of loopback TCP sockets (CPython there has no AF_UNIX).
_PORT_FILES: Final = sys.platform == "win32"
_AF_UNIX: Final[int] = getattr(socket, "AF_UNIX", -1)
_LOOPBACK: Final = "127.0.0.1"


class EndpointLock:
    """The exclusive lock a listener holds on its endpoint while it listens.

    Whether a service has a live listener is whether this lock is taken: the check makes
    no connection (a probe connection would wait in the live listener's backlog). The
    lock is ``flock`` on the file ``<endpoint>.lock`` (Windows: a named semaphore); the
    operating system drops the lock of a listener whose process dies, so its endpoint is
    taken over. :meth:`release` removes the endpoint, then gives the lock up.
    """

    def __init__(self, path: str, what: str) -> None:
        self.path = path
        self.lock_path = f"{path}.lock"
        self._held = _acquire(self.lock_path)
        if self._held is None:
            raise OSError(errno.EADDRINUSE, f"{what} has a listener already")

    def release(self) -> None:
        """Remove the endpoint and give the lock up (once; later calls do nothing)."""
        with _HELD_LOCK:
            held, self._held = self._held, None
            entry = _HELD.get(self.lock_path)
            if entry is not None and entry[1] is self:
                del _HELD[self.lock_path]
        if held is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        _release(held, self.lock_path)


#: The locks of this process's listening sockets, by lock path: a guest program gets a
#: plain socket, whose lock is given up when the socket is collected, or when this
#: process makes a listener at that endpoint again after closing the socket.
_HELD: dict[str, tuple[weakref.ref[socket.socket], EndpointLock]] = {}
_HELD_LOCK = threading.Lock()


def _release_closed(lock_path: str) -> None:
    """Give up this process's lock of ``lock_path`` if its socket is closed or gone."""
    with _HELD_LOCK:
        held = _HELD.get(lock_path)
    if held is not None:
        sock = held[0]()
        if sock is None or sock.fileno() == -1:
            held[1].release()


def listening_endpoint(path: str, what: str) -> tuple[socket.socket, EndpointLock]:
    """A non-blocking socket listening at the endpoint ``path``, and the lock it holds.

    A live listener there makes this fail with EADDRINUSE, as a second listener of one
    service does on Windows; the endpoint of a dead one is replaced. The caller releases
    the lock when it closes the socket (else it goes when the socket is collected).
    """
    _release_closed(f"{path}.lock")
    lock = EndpointLock(path, what)
    try:
        if _PORT_FILES:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        else:
            sock = socket.socket(_AF_UNIX, socket.SOCK_STREAM)
    except BaseException:
        lock.release()
        raise
    try:
        if _PORT_FILES:
            sock.bind((_LOOPBACK, 0))
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # a dead listener's
            sock.bind(path)
        sock.listen()
        sock.setblocking(False)
        if _PORT_FILES:
            _write_port(path, sock.getsockname()[1])
    except BaseException:
        sock.close()
        lock.release()
        raise
    with _HELD_LOCK:
        _HELD[lock.lock_path] = (weakref.ref(sock), lock)
    weakref.finalize(sock, lock.release)
    return sock, lock


def _write_port(path: str, port: int) -> None:
    partial = f"{path}.{os.getpid()}.partial"
    with open(partial, "w", encoding="ascii") as file:
        file.write(str(port))
    os.replace(partial, path)


def _read_port(path: str) -> int:
    with open(path, encoding="ascii") as file:
        return int(file.read())


async def connect_endpoint(path: str, what: str) -> anyio.abc.ByteStream:
    """A stream connected to the endpoint ``path``; ConnectionRefusedError if nobody listens."""
    try:
        if _PORT_FILES:
            try:
                port = _read_port(path)
            except ValueError:
                raise ConnectionRefusedError from None
            return await anyio.connect_tcp(_LOOPBACK, port)
        return await anyio.connect_unix(path)
    except (FileNotFoundError, ConnectionRefusedError):
        raise ConnectionRefusedError(errno.ECONNREFUSED, f"nobody listens for {what}") from None


def _guest_path(service_id: uuid.UUID, suffix: str) -> str:
    directory = os.environ.get(HVSOCKET_DIR_ENV)
    if not directory:
        raise RuntimeError(
            f"not inside an hcsim compute system: {HVSOCKET_DIR_ENV} is not set (hcsim sets "
            "it in the processes it starts in a running system)"
        )
    return os.path.join(directory, f"{service_id}{suffix}")


def guest_listener(service_id: uuid.UUID) -> socket.socket:
    """A listening socket for ``service_id``, for a process inside an emulated system."""
    sock, _ = listening_endpoint(_guest_path(service_id, ".g"), f"service {service_id}")
    sock.setblocking(True)
    return sock


async def guest_connect(service_id: uuid.UUID) -> anyio.abc.ByteStream:
    """Connect a process inside an emulated system to the host's listener of ``service_id``."""
    return await connect_endpoint(
        _guest_path(service_id, ".h"), f"service {service_id} on the host"
    )
