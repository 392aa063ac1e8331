"""aiohcs.vhd: VHDX files made and opened through virtdisk, on hcsim.

hcsim writes real VHDX files (hcsim/README.md, "virtdisk"): the tests check what a reader
of the format sees (qemu-img when it is installed; CI checks hcsim's files with it in
``make -C hcsim qemu-check``), the attachment bookkeeping, the errors, bad input (refused
before C: a fault armed on the export would show otherwise), cancellation (a disk opened
by an await that was cancelled is closed) and that no handle is left open: every test
ends with no descriptor of this process on a ``.vhdx`` file of its directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from aiohcs import _native, testing
from aiohcs.errors import (
    AccessDenied,
    HandleClosedError,
    HcsError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    error_from_hresult,
)
from aiohcs.vhd import MAX_SIZE, MIN_SIZE, VirtualDisk, create_vhdx, hresult_from_win32, open_vhd

pytestmark = pytest.mark.anyio

MB = 1 << 20
#: A failure nothing returns on its own: seeing it means a call reached hcsim.
TRIPWIRE = 0x80040BAD
ERROR_FILE_NOT_FOUND = 0x80070002
ERROR_FILE_EXISTS = 0x80070050
ERROR_SHARING_VIOLATION = 0x80070020
ERROR_VHD_INVALID_STATE = 0xC03A001C
ERROR_VIRTDISK_NOT_VIRTUAL_DISK = 0xC03A0015


def _open_vhdx_fds(directory: Path) -> list[str]:
    """The ``.vhdx`` files under ``directory`` this process holds a descriptor of (Linux)."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(str(directory)) and target.endswith(".vhdx"):
                held.append(target)
    return held


@pytest.fixture
def disks(tmp_path: Path) -> Iterator[Path]:
    """A directory for the test's disks; no handle of them may be left open at the end.

    (Closes handed to a worker thread, a finalizer's or a cancelled open's, get a moment.)
    """
    yield tmp_path
    if sys.platform.startswith("linux"):
        deadline = time.monotonic() + 2
        while _open_vhdx_fds(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.02)
        held = _open_vhdx_fds(tmp_path)
        assert not held, f"virtual disk handles left open: {held}"


def _qemu_info(path: Path) -> dict[str, Any] | None:
    if shutil.which("qemu-img") is None:
        return None
    out = subprocess.run(
        ["qemu-img", "info", "--output=json", str(path)], check=True, capture_output=True
    )
    subprocess.run(["qemu-img", "check", "-q", str(path)], check=True)
    info: dict[str, Any] = json.loads(out.stdout)
    return info


# ---------------------------------------------------------------- the files


@pytest.mark.parametrize("fixed", [False, True])
async def test_create_and_open(disks: Path, fixed: bool) -> None:
    path = disks / "disk.vhdx"
    await create_vhdx(path, 64 * MB, fixed=fixed, block_size=2 * MB)
    assert path.read_bytes()[:8] == b"vhdxfile"
    if fixed:
        assert path.stat().st_size >= 64 * MB  # allocated (sparse where it can be)
    else:
        assert path.stat().st_size < 8 * MB
    async with await open_vhd(path) as disk:
        assert isinstance(disk, VirtualDisk)
        assert disk.path == str(path)
        assert await disk.virtual_size() == 64 * MB
    info = _qemu_info(path)
    if info is not None:
        assert info["format"] == "vhdx"
        assert info["virtual-size"] == 64 * MB


async def test_sizes_and_sectors(disks: Path) -> None:
    for i, (size, sector) in enumerate([(MIN_SIZE, 512), (10 << 30, 4096), (MAX_SIZE, 512)]):
        path = disks / f"d{i}.vhdx"
        await create_vhdx(os.fspath(path), size, sector_size=sector)
        async with await open_vhd(path, read_only=True) as disk:
            assert await disk.virtual_size() == size


async def test_create_errors(disks: Path) -> None:
    path = disks / "disk.vhdx"
    await create_vhdx(path, 16 * MB)
    with pytest.raises(HcsError) as caught:
        await create_vhdx(path, 16 * MB)
    assert caught.value.hresult == ERROR_FILE_EXISTS
    assert "CreateVirtualDisk" in str(caught.value)
    assert str(path) in str(caught.value)
    with pytest.raises(HcsError) as caught:
        await create_vhdx(disks / "no" / "such" / "dir.vhdx", 16 * MB)
    assert caught.value.hresult == 0x80070003  # ERROR_PATH_NOT_FOUND


async def test_open_errors(disks: Path) -> None:
    with pytest.raises(HcsError) as caught:
        await open_vhd(disks / "missing.vhdx")
    assert caught.value.hresult == ERROR_FILE_NOT_FOUND
    junk = disks / "junk.vhdx"
    junk.write_bytes(b"not a disk" * 100)
    with pytest.raises(HcsError) as caught:
        await open_vhd(junk)
    assert caught.value.hresult == ERROR_VIRTDISK_NOT_VIRTUAL_DISK


async def test_open_a_directory_is_access_denied(disks: Path) -> None:
    # the same answer whatever failed before it (hcsim read a stale errno)
    for before in (None, disks / "missing.vhdx"):
        if before is not None:
            with pytest.raises(HcsError):
                await open_vhd(before)
        with pytest.raises(AccessDenied) as caught:
            await open_vhd(disks)
        assert caught.value.hresult == 0x80070005


@pytest.mark.parametrize("name", ["x.vhd", "x.iso", "X.VHD"])
async def test_create_refuses_another_format_name(disks: Path, name: str) -> None:
    testing.fail_next("CreateVirtualDisk", TRIPWIRE)
    with pytest.raises(InvalidArgumentError, match=r"must name a \.vhdx file"):
        await create_vhdx(disks / name, 16 * MB)
    assert not (disks / name).exists()
    testing.fail_next("CreateVirtualDisk", TRIPWIRE, count=0)


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        ("ERROR_VIRTDISK_NOT_VIRTUAL_DISK", 0xC03A0015, "not a virtual disk"),
        ("ERROR_VHD_INVALID_STATE", 0xC03A001C, "current state"),
        ("ERROR_FILENAME_EXCED_RANGE", 0x800700CE, "too long"),
        ("ERROR_DISK_FULL", 0x80070070, "not enough space"),
        ("ERROR_FILE_TOO_LARGE", 0x800700DF, "exceeds the limit"),
        ("ERROR_INVALID_DATA", 0x8007000D, "The data is invalid"),
    ],
)
def test_virtdisk_codes_have_names(name: str, value: int, text: str) -> None:
    error = error_from_hresult(value)
    assert error.name == name
    assert text in str(error)
    assert hex(value) not in str(error).lower() or name in str(error)


# ---------------------------------------------------------------- attaching


async def test_attach_detach(disks: Path) -> None:
    a, b = disks / "a.vhdx", disks / "b.vhdx"
    await create_vhdx(a, 16 * MB)
    await create_vhdx(b, 16 * MB, fixed=True)
    async with await open_vhd(a) as disk, await open_vhd(b) as other:
        with pytest.raises(HcsError) as caught:
            await disk.physical_path()
        assert caught.value.hresult == ERROR_VHD_INVALID_STATE
        with pytest.raises(HcsError) as caught:
            await disk.detach()
        assert caught.value.hresult == ERROR_VHD_INVALID_STATE
        await disk.attach()
        first = await disk.physical_path()
        assert first.startswith("\\\\.\\PhysicalDrive")
        await other.attach(read_only=True)
        second = await other.physical_path()
        assert second.startswith("\\\\.\\PhysicalDrive")
        assert second != first
        # the attachment is the file's: another handle of it sees it and cannot attach it
        async with await open_vhd(a) as again:
            assert await again.physical_path() == first
            with pytest.raises(HcsError) as caught:
                await again.attach()
            assert caught.value.hresult == ERROR_SHARING_VIOLATION
        await disk.detach()
        with pytest.raises(HcsError):
            await disk.physical_path()
    # closing a disk ends its attachment
    async with await open_vhd(b) as other:
        with pytest.raises(HcsError):
            await other.physical_path()


async def test_read_only_disk(disks: Path) -> None:
    path = disks / "disk.vhdx"
    await create_vhdx(path, 16 * MB)
    async with await open_vhd(path, read_only=True) as disk:
        with pytest.raises(AccessDenied):
            await disk.attach()
        await disk.attach(read_only=True)
        await disk.detach()


# ---------------------------------------------------------------- closing, leaks


async def test_closed_disk(disks: Path) -> None:
    path = disks / "disk.vhdx"
    await create_vhdx(path, 16 * MB)
    disk = await open_vhd(path)
    assert repr(disk).endswith(" open>")
    await disk.aclose()
    await disk.aclose()  # idempotent
    assert disk.closed
    assert "closed" in repr(disk)
    for call in (disk.attach, disk.detach, disk.physical_path, disk.virtual_size):
        with pytest.raises(HandleClosedError):
            await call()
    with pytest.raises(HandleClosedError):
        disk._hold()
    with pytest.raises(HandleClosedError):
        disk._vhd_handle()


async def test_close_waits_for_a_call_in_progress(disks: Path) -> None:
    path = disks / "disk.vhdx"
    await create_vhdx(path, 16 * MB)
    disk = await open_vhd(path)
    sizes: list[int] = []
    testing.delay("GetVirtualDiskInformation", sync_ms=300)

    async def size() -> None:
        sizes.append(await disk.virtual_size())

    async with anyio.create_task_group() as tg:
        tg.start_soon(size)
        await anyio.sleep(0.05)
        await disk.aclose()  # returns once the call has, then closes
        assert sizes == [16 * MB]
    assert disk.closed


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_close_cancelled_as_the_last_call_returns_still_closes(disks: Path) -> None:
    # The last hold is released, then the closing task is cancelled by asyncio before it
    # runs again: asyncio throws the cancellation into a wait whose event is already set.
    path = disks / "disk.vhdx"
    await create_vhdx(path, 16 * MB)
    disk = await open_vhd(path)
    disk._hold()
    closing = asyncio.ensure_future(disk.aclose())
    await anyio.wait_all_tasks_blocked()
    disk._release()
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert disk.closed
    assert disk._handle is None  # closed (in a worker thread): the fixture sees no fd left


async def test_hold_keeps_the_handle_until_release(disks: Path) -> None:
    path = disks / "disk.vhdx"
    await create_vhdx(path, 16 * MB)
    disk = await open_vhd(path)
    disk._hold()
    handle = disk._vhd_handle()
    assert handle

    async def release_later() -> None:
        await anyio.sleep(0.05)
        assert _open_vhdx_fds(disks) or not sys.platform.startswith("linux")
        disk._release()

    async with anyio.create_task_group() as tg:
        tg.start_soon(release_later)
        await disk.aclose()
    assert disk.closed


async def test_cancelled_open_closes_the_disk(disks: Path) -> None:
    path = disks / "disk.vhdx"
    await create_vhdx(path, 16 * MB)
    testing.delay("OpenVirtualDisk", sync_ms=300)
    with anyio.move_on_after(0.05) as scope:
        await open_vhd(path)
    assert scope.cancelled_caught
    # the open ran to its end; its handle was closed (the fixture checks no fd is left)


async def test_cancelled_call_runs_to_its_end(disks: Path) -> None:
    path = disks / "disk.vhdx"
    await create_vhdx(path, 16 * MB)
    async with await open_vhd(path) as disk:
        testing.delay("AttachVirtualDisk", sync_ms=300)
        with anyio.move_on_after(0.05) as scope:
            await disk.attach()
        assert scope.cancelled_caught
        assert (await disk.physical_path()).startswith("\\\\.\\PhysicalDrive")


async def test_unclosed_disk_warns_and_is_closed(disks: Path) -> None:
    path = disks / "disk.vhdx"
    await create_vhdx(path, 16 * MB)
    disk = await open_vhd(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del disk
        gc.collect()
    warned = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert warned == [
        f"<VirtualDisk {str(path)!r}> was never closed (use 'async with' or aclose())"
    ]


@pytest.mark.skipif(
    sys.platform == "win32",
    reason="hcsim on Windows cannot count disks: kernel32's CloseHandle closes them unseen",
)
async def test_leak_check_sees_an_open_and_attached_disk(disks: Path) -> None:
    path = disks / "disk.vhdx"
    await create_vhdx(path, 16 * MB)
    base = testing.counts()
    disk = await open_vhd(path)
    await disk.attach()
    with pytest.raises(testing.LeakError) as caught:
        await testing.assert_no_leaks_async(settle=0, baseline=base)
    assert caught.value.leaks == {"virtual_disks": 1, "attached_disks": 1}
    await disk.detach()
    with pytest.raises(testing.LeakError) as caught:
        await testing.assert_no_leaks_async(settle=0, baseline=base)
    assert caught.value.leaks == {"virtual_disks": 1}
    await disk.aclose()
    await testing.assert_no_leaks_async(settle=0, baseline=base)


def test_virtual_disk_cannot_be_constructed() -> None:
    with pytest.raises(TypeError, match="open_vhd"):
        VirtualDisk(1234, "/x.vhdx")
    with pytest.raises(TypeError, match="open_vhd"):
        VirtualDisk()


# ---------------------------------------------------------------- faults, bad input


async def test_faults_become_errors(disks: Path) -> None:
    path = disks / "disk.vhdx"
    await create_vhdx(path, 16 * MB)
    async with await open_vhd(path) as disk:
        testing.fail_next("AttachVirtualDisk", 0x80070005)  # from ERROR_ACCESS_DENIED
        with pytest.raises(AccessDenied) as denied:
            await disk.attach()
        assert denied.value.operation == "AttachVirtualDisk"
        await disk.attach()  # the fault was for one call
    testing.fail_next("OpenVirtualDisk", 0xC03A0015)
    with pytest.raises(HcsError) as caught:
        await open_vhd(path)
    assert caught.value.hresult == ERROR_VIRTDISK_NOT_VIRTUAL_DISK


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"path": "relative.vhdx"}, InvalidArgumentError),
        ({"path": 7}, InvalidArgumentTypeError),
        ({"path": "/x\0y.vhdx"}, InvalidArgumentError),
        ({"size": True}, InvalidArgumentTypeError),
        ({"size": 16.0 * MB}, InvalidArgumentTypeError),
        ({"size": MIN_SIZE - 512}, InvalidArgumentError),
        ({"size": MAX_SIZE + 512}, InvalidArgumentError),
        ({"size": 16 * MB + 1}, InvalidArgumentError),
        ({"size": 16 * MB + 512, "sector_size": 4096}, InvalidArgumentError),
        ({"sector_size": 1024}, InvalidArgumentError),
        ({"sector_size": True}, InvalidArgumentTypeError),
        ({"block_size": 3 * MB}, InvalidArgumentError),
        ({"block_size": 512 * MB}, InvalidArgumentError),
        ({"block_size": MB // 2}, InvalidArgumentError),
        ({"block_size": "32M"}, InvalidArgumentTypeError),
        ({"fixed": 1}, InvalidArgumentTypeError),
    ],
)
async def test_create_bad_input(disks: Path, kwargs: dict[str, Any], error: type) -> None:
    args: dict[str, Any] = {"path": os.fspath(disks / "disk.vhdx"), "size": 16 * MB}
    args.update(kwargs)
    path, size = args.pop("path"), args.pop("size")
    testing.fail_next("CreateVirtualDisk", TRIPWIRE)
    with pytest.raises(error):
        await create_vhdx(path, size, **args)
    assert not (disks / "disk.vhdx").exists()
    testing.fail_next("CreateVirtualDisk", TRIPWIRE, count=0)


async def test_open_bad_input(disks: Path) -> None:
    path = disks / "disk.vhdx"
    await create_vhdx(path, 16 * MB)
    testing.fail_next("OpenVirtualDisk", TRIPWIRE)
    with pytest.raises(InvalidArgumentError):
        await open_vhd("disk.vhdx")
    with pytest.raises(InvalidArgumentTypeError):
        await open_vhd(path, read_only=1)  # type: ignore[arg-type]
    testing.fail_next("OpenVirtualDisk", TRIPWIRE, count=0)
    async with await open_vhd(path) as disk:
        with pytest.raises(InvalidArgumentTypeError):
            await disk.attach(read_only="yes")  # type: ignore[arg-type]


def test_hresult_from_win32() -> None:
    assert hresult_from_win32(0) == 0
    assert hresult_from_win32(5) == 0x80070005 - (1 << 32)
    assert hresult_from_win32(0xC03A0015) == 0xC03A0015 - (1 << 32)


# ---------------------------------------------------------------- with computestorage


async def test_format_keeps_a_valid_vhdx(disks: Path) -> None:
    """hcsim's computestorage takes the disk's handle and keeps the file a VHDX."""
    path = disks / "scratch.vhdx"
    await create_vhdx(path, 256 * MB)
    async with await open_vhd(path) as disk:
        with disk._held() as handle:
            hr = _native.lib.HcsFormatWritableLayerVhd(_native.ffi.cast("HANDLE", handle))
        assert hr == 0
        pp = _native.new_document_ptr()
        with disk._held() as handle:
            hr = _native.lib.HcsGetLayerVhdMountPath(_native.ffi.cast("HANDLE", handle), pp)
        assert hr == 0
        assert (_native.take_document(pp) or "").startswith("\\\\?\\Volume{")
        assert await disk.virtual_size() == 256 * MB
    info = _qemu_info(path)
    if info is not None:
        assert info["format"] == "vhdx"
        assert info["virtual-size"] == 256 * MB
