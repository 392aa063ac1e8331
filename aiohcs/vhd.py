r"""Virtual hard disks: the calls of ``virtdisk.dll`` aiohcs needs, as awaitable functions.

:func:`create_vhdx` makes a new VHDX file (dynamic, or fixed: fully allocated) and
:func:`open_vhd` opens one as a :class:`VirtualDisk`, which can be attached to the host
(as a disk without a drive letter), asked for its ``\\\\.\\PhysicalDriveN`` path and its
size, and handed to the calls of :mod:`aiohcs.storage` that take a ``vhdHandle``.

The calls are synchronous in Windows, so each runs in a worker thread and never stalls the
event loop. A call cannot be abandoned: when its await is cancelled the call runs to its
end, then the cancellation is delivered (a disk opened by a call whose await was cancelled
is closed). Arguments are checked first: paths must be absolute host paths, sizes ints in
range. Failures raise the :class:`~aiohcs.errors.HcsError` of ``HRESULT_FROM_WIN32`` of
virtdisk's Win32 error code (virtdisk's own codes, 0xC03Axxxx, as they are), naming the
call and the path.

Only VHDX: :func:`create_vhdx` refuses a ``.vhd`` or ``.iso`` file name, and
:func:`open_vhd` opens with the VHDX storage type, so a VHD or ISO file fails (on hcsim,
which emulates only VHDX, with ``ERROR_VIRTDISK_NOT_VIRTUAL_DISK``, 0xC03A0015).

On hcsim (Linux) the files are real VHDX files that ``qemu-img`` reads, except those with
4096-byte sectors (qemu-img 7.2 reads only 512-byte-sector VHDX); attaching is
bookkeeping: no device appears, and a disk attached on the host cannot be used by a
running VM or the reverse (``ERROR_SHARING_VIOLATION``; see hcsim's README, "virtdisk").
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any, Final, TypeAlias

import anyio
import anyio.abc
import anyio.lowlevel

from aiohcs import _host_calls
from aiohcs._args import check_host_path
from aiohcs._bridge import run_sync
from aiohcs._bridge._workers import run_detached
from aiohcs._native import ffi, lib, require_export, to_wide
from aiohcs._unclosed import finalize_unclosed
from aiohcs._vhd_handle import held_handle
from aiohcs.errors import (
    HandleClosedError,
    HcsError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    error_from_hresult,
)

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "MAX_BLOCK_SIZE",
    "MAX_SIZE",
    "MIN_BLOCK_SIZE",
    "MIN_SIZE",
    "VirtualDisk",
    "create_vhdx",
    "open_vhd",
]

#: A host path argument.
StrPath: TypeAlias = "str | os.PathLike[str]"

#: The largest virtual size of a VHDX (64 TB, MS-VHDX).
MAX_SIZE: Final = 64 << 40
#: The smallest virtual size Windows creates a VHDX with (3 MB, as Hyper-V's tools say).
MIN_SIZE: Final = 3 << 20
#: The block size range of a VHDX (a power of two; MS-VHDX).
MIN_BLOCK_SIZE: Final = 1 << 20
MAX_BLOCK_SIZE: Final = 256 << 20
_SECTOR_SIZES: Final = (512, 4096)
#: The block size Windows gives a VHDX when none is asked for (32 MB).
DEFAULT_BLOCK_SIZE: Final = 32 << 20
#: File name endings that name another format: create_vhdx refuses them.
_OTHER_FORMATS: Final = (".vhd", ".iso")

_VHDX: Final = 3  # VIRTUAL_STORAGE_TYPE_DEVICE_VHDX
# VIRTUAL_STORAGE_TYPE_VENDOR_MICROSOFT {EC984AEC-A0F9-47E9-901F-71415A66345B}
_VENDOR_MICROSOFT: Final = (0xEC984AEC, 0xA0F9, 0x47E9, b"\x90\x1f\x71\x41\x5a\x66\x34\x5b")
_ERROR_INSUFFICIENT_BUFFER: Final = 122
_PATH_CHARS: Final = 64  # "\\.\PhysicalDriveN" fits; a longer answer is asked for again


def hresult_from_win32(code: int) -> int:
    """``HRESULT_FROM_WIN32(code)``, signed: virtdisk's codes above 0xFFFF are kept as they are."""
    code &= 0xFFFFFFFF
    if code == 0:
        return 0
    if not code & 0x80000000:
        code = 0x80070000 | (code & 0xFFFF)
    return code - 0x100000000


def _check_flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgumentTypeError(f"{what} must be a bool, not {type(value).__name__}")
    return value


def _check_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentTypeError(f"{what} must be an int, not {type(value).__name__}")
    return value


def _check_geometry(size: Any, block_size: Any, sector_size: Any) -> tuple[int, int, int]:
    """The (size, block size or 0 for Windows' default, sector size) of a new VHDX."""
    sector = _check_int(sector_size, "sector_size")
    if sector not in _SECTOR_SIZES:
        raise InvalidArgumentError(f"sector_size must be 512 or 4096, not {sector}")
    size = _check_int(size, "size")
    if not MIN_SIZE <= size <= MAX_SIZE or size % sector:
        raise InvalidArgumentError(
            f"size must be a multiple of the sector size ({sector}) from {MIN_SIZE} (3 MB) "
            f"to {MAX_SIZE} (64 TB), not {size}"
        )
    block = 0
    if block_size is not None:
        block = _check_int(block_size, "block_size")
        if not MIN_BLOCK_SIZE <= block <= MAX_BLOCK_SIZE or block & (block - 1):
            raise InvalidArgumentError(
                f"block_size must be a power of two from 1 MB to 256 MB, not {block}"
            )
    return size, block, sector


def _storage_type() -> Any:
    t = ffi.new("VIRTUAL_STORAGE_TYPE *")
    t.DeviceId = _VHDX
    data1, data2, data3, data4 = _VENDOR_MICROSOFT
    t.VendorId.Data1 = data1
    t.VendorId.Data2 = data2
    t.VendorId.Data3 = data3
    t.VendorId.Data4 = list(data4)
    return t


def _close_handle(handle: int) -> None:
    lib.CloseHandle(ffi.cast("HANDLE", handle))


def _failure(name: str, path: str, hr: int) -> HcsError:
    return error_from_hresult(hr, f"virtual disk {path}", operation=name)


async def _run(name: str, path: str, fn: Callable[[], int]) -> None:
    """Run a virtdisk call in a worker thread; raise the error of its Win32 code."""
    await _host_calls.call(
        name,
        lambda: (hresult_from_win32(fn()), None),
        failure=lambda hr: _failure(name, path, hr),
    )


async def create_vhdx(
    path: StrPath,
    size: int,
    *,
    fixed: bool = False,
    block_size: int | None = None,
    sector_size: int = 512,
) -> None:
    """Create a new VHDX file of ``size`` bytes at ``path`` (it must not exist).

    A dynamic disk grows as it is written; ``fixed=True`` allocates it whole. ``size``: a
    multiple of ``sector_size`` (512 or 4096) from 3 MB to 64 TB; ``block_size``: a power
    of two from 1 MB to 256 MB (None: Windows' default, :data:`DEFAULT_BLOCK_SIZE`). A
    name ending in ``.vhd`` or ``.iso`` is refused: the file would be a VHDX under another
    format's name. Raises :class:`~aiohcs.errors.InvalidArgumentError` for bad input, an
    :class:`~aiohcs.errors.HcsError` when virtdisk fails (the file exists, ...).
    """
    where = check_host_path(path, "path")
    if where.lower().endswith(_OTHER_FORMATS):
        raise InvalidArgumentError(
            f"path must name a .vhdx file, not {where!r}: create_vhdx writes VHDX only"
        )
    size, block, sector = _check_geometry(size, block_size, sector_size)
    fixed = _check_flag(fixed, "fixed")
    await _host_calls.admit()
    require_export("CreateVirtualDisk")
    w_path = to_wide(where)
    flags = 1 if fixed else 0  # CREATE_VIRTUAL_DISK_FLAG_FULL_PHYSICAL_ALLOCATION

    def call() -> int:
        params = ffi.new("CREATE_VIRTUAL_DISK_PARAMETERS *")
        params.Version = 2  # CREATE_VIRTUAL_DISK_VERSION_2 (what VHDX needs)
        params.Version2.MaximumSize = size
        params.Version2.BlockSizeInBytes = block
        params.Version2.SectorSizeInBytes = sector
        handle = ffi.new("HANDLE *")
        code: int = lib.CreateVirtualDisk(
            _storage_type(), w_path, 0, ffi.NULL, flags, 0, params, ffi.NULL, handle
        )
        if code == 0 and handle[0] != ffi.NULL:
            lib.CloseHandle(handle[0])
        return code

    await _run("CreateVirtualDisk", where, call)


async def open_vhd(path: StrPath, *, read_only: bool = False) -> VirtualDisk:
    """Open the VHDX file at ``path`` as a :class:`VirtualDisk` (close it: ``async with``).

    ``read_only``: open it for reading only (it can then be attached read-only only, and
    not formatted). Raises :class:`~aiohcs.errors.InvalidArgumentError` for bad input, an
    :class:`~aiohcs.errors.HcsError` when virtdisk fails (no such file, not a VHDX: a VHD
    or ISO file too, ...).
    """
    where = check_host_path(path, "path")
    read_only = _check_flag(read_only, "read_only")
    await _host_calls.admit()
    require_export("OpenVirtualDisk")
    w_path = to_wide(where)

    def call() -> tuple[int, int]:
        params = ffi.new("OPEN_VIRTUAL_DISK_PARAMETERS *")
        params.Version = 2  # OPEN_VIRTUAL_DISK_VERSION_2: the access mask must be NONE
        params.Version2.ReadOnly = 1 if read_only else 0
        out = ffi.new("HANDLE *")
        code: int = lib.OpenVirtualDisk(_storage_type(), w_path, 0, 0, params, out)
        handle = int(ffi.cast("uintptr_t", out[0])) if code == 0 else 0
        return code, handle

    def discard(result: tuple[int, int]) -> None:
        if result[1]:
            _close_handle(result[1])

    code, handle = await run_sync(call, discard=discard)
    if code:
        raise _failure("OpenVirtualDisk", where, hresult_from_win32(code))
    try:
        await anyio.lowlevel.checkpoint_if_cancelled()
    except BaseException:  # cancelled while it ran: the disk nobody will get is closed
        with anyio.CancelScope(shield=True):
            await run_sync(_close_handle, handle)
        raise
    return VirtualDisk._adopt(handle, where, read_only=read_only)


class VirtualDisk(anyio.abc.AsyncResource):
    """An open virtual disk: one owner, one close (``async with`` or :meth:`aclose`).

    Made by :func:`open_vhd` only (it cannot be constructed: it would own, and close, the
    handle it is given). A disk left unclosed warns (``ResourceWarning``) when it is
    garbage-collected, and its handle is closed then. Closing it detaches it if it is
    attached (Windows does, for an attachment without a permanent lifetime). A call in
    progress keeps the handle open until it returns: :meth:`aclose` waits for it.
    """

    path: str
    _read_only: bool
    _handle: int | None
    _holds: int
    _closing: bool
    _close_on_release: bool
    _released: anyio.Event | None
    _closed: anyio.Event | None

    def __init__(self, *args: object, **kwargs: object) -> None:
        """Refuse: a :class:`VirtualDisk` is made by :func:`open_vhd`."""
        raise TypeError("VirtualDisk cannot be constructed: use 'await aiohcs.vhd.open_vhd(path)'")

    @classmethod
    def _adopt(cls, handle: int, path: str, *, read_only: bool) -> VirtualDisk:
        """The owner of ``handle`` (an open virtual disk handle) of the file ``path``."""
        disk = cls.__new__(cls)
        disk.path = path
        disk._read_only = read_only
        disk._handle = handle
        disk._holds = 0
        disk._closing = False
        disk._close_on_release = False
        disk._released = None
        disk._closed = None
        return disk

    def __repr__(self) -> str:
        state = "closed" if self._handle is None else "open"
        return f"<VirtualDisk {self.path!r} {state}>"

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` has begun."""
        return self._closing or self._handle is None

    # ---- the protocol of aiohcs._vhd_handle (computestorage calls hold the disk)

    def _vhd_handle(self) -> int:
        if self._handle is None or (self._closing and not self._holds):
            raise HandleClosedError(message=f"the virtual disk {self.path!r} is closed")
        return self._handle

    def _hold(self) -> None:
        if self._handle is None or self._closing:
            raise HandleClosedError(message=f"the virtual disk {self.path!r} is closed")
        self._holds += 1

    def _release(self) -> None:
        self._holds -= 1
        if self._holds:
            return
        if self._released is not None:
            self._released.set()
        if self._close_on_release and self._handle is not None:
            handle, self._handle = self._handle, None
            run_detached(_close_handle, handle)

    def _held(self) -> contextlib.AbstractContextManager[int]:
        """Hold the disk for a ``with`` block, which gets its raw HANDLE value."""
        return held_handle(self)

    # ---- calls

    async def _call(self, name: str, fn: Callable[[Any], int]) -> None:
        await _host_calls.admit()
        require_export(name)
        with self._held() as handle:
            await _run(name, self.path, lambda: fn(ffi.cast("HANDLE", handle)))

    async def attach(self, *, read_only: bool = False) -> None:
        """Attach the disk to the host, without a drive letter (``read_only``: read-only).

        The attachment ends with :meth:`detach` or when the disk is closed.
        """
        read_only = _check_flag(read_only, "read_only")
        # ATTACH_VIRTUAL_DISK_FLAG_NO_DRIVE_LETTER (2), | READ_ONLY (1)
        flags = 2 | (1 if read_only else 0)

        def call(handle: Any) -> int:
            params = ffi.new("ATTACH_VIRTUAL_DISK_PARAMETERS *")
            params.Version = 1
            code: int = lib.AttachVirtualDisk(handle, ffi.NULL, flags, 0, params, ffi.NULL)
            return code

        await self._call("AttachVirtualDisk", call)

    async def detach(self) -> None:
        """Detach the disk from the host (an error if it is not attached)."""

        def call(handle: Any) -> int:
            code: int = lib.DetachVirtualDisk(handle, 0, 0)
            return code

        await self._call("DetachVirtualDisk", call)

    async def physical_path(self) -> str:
        r"""The attached disk's device path, ``\\\\.\\PhysicalDriveN`` (an error if detached)."""
        result: list[str] = []

        def call(handle: Any) -> int:
            chars = _PATH_CHARS
            while True:
                size = ffi.new("ULONG *", chars * 2)
                buf = ffi.new("WCHAR[]", chars)
                code: int = lib.GetVirtualDiskPhysicalPath(handle, size, buf)
                if code == _ERROR_INSUFFICIENT_BUFFER and size[0] > chars * 2:
                    chars = (size[0] + 1) // 2
                    continue
                if code == 0:
                    result.append(ffi.buffer(buf, chars * 2)[:].decode("utf-16-le").split("\0")[0])
                return code

        await self._call("GetVirtualDiskPhysicalPath", call)
        return result[0]

    async def virtual_size(self) -> int:
        """The disk's virtual size in bytes."""
        result: list[int] = []

        def call(handle: Any) -> int:
            info = ffi.new("GET_VIRTUAL_DISK_INFO *")
            info.Version = 1  # GET_VIRTUAL_DISK_INFO_SIZE
            size = ffi.new("ULONG *", ffi.sizeof("GET_VIRTUAL_DISK_INFO"))
            code: int = lib.GetVirtualDiskInformation(handle, size, info, ffi.NULL)
            if code == 0:
                result.append(int(info.Size.VirtualSize))
            return code

        await self._call("GetVirtualDiskInformation", call)
        return result[0]

    # ---- closing

    async def aclose(self) -> None:
        """Close the disk's handle (idempotent); waits for calls in progress to return."""
        if self._closed is not None:  # another task closes it: wait for that
            await self._closed.wait()
            return
        if self._handle is None:
            return
        self._closing = True
        self._closed = anyio.Event()
        try:
            while self._holds:
                self._released = anyio.Event()
                await self._released.wait()
        except BaseException:
            # cancelled while calls are in progress: the last of them closes the handle; if
            # the last one was released just before the cancellation arrived (asyncio
            # delivers it even to a wait whose event is set), nobody else would: close now
            if self._holds:
                self._close_on_release = True
            else:
                handle, self._handle = self._handle, None
                if handle is not None:
                    run_detached(_close_handle, handle)
            self._closed.set()
            raise
        handle, self._handle = self._handle, None
        try:
            if handle is not None:
                await run_sync(_close_handle, handle)
        finally:
            self._closed.set()

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is None:
            return
        self._handle = None
        finalize_unclosed(
            self, f"<VirtualDisk {self.path!r}>", lambda: run_detached(_close_handle, handle)
        )
