"""aiohcs.storage: every computestorage call on hcsim, its errors, bad input and cancellation.

hcsim emulates layers on directories (hcsim/README.md, "computestorage"). The calls that
take a disk get one from :func:`open_disk`: until aiohcs.vhd lands, a regular file opened
for the test (a descriptor on POSIX, its Win32 HANDLE on Windows), which is what hcsim's
computestorage takes as a ``vhdHandle`` today. The assertions only use what any disk
implementing aiohcs._vhd_handle's protocol does, so that :func:`open_disk` can become
``aiohcs.vhd.open_vhd`` of a new VHDX without changing the tests.
"""

from __future__ import annotations

import os
import re
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from aiohcs import storage, testing
from aiohcs._native._releases import NEWEST_SDK_RELEASE, WIN10_2104
from aiohcs.errors import (
    AccessDenied,
    HandleClosedError,
    HcsError,
    HResult,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    InvalidDocumentError,
    InvalidJson,
    NotFound,
    UnsupportedOnThisHost,
)
from aiohcs.schema import LayerData
from aiohcs.vhd import create_vhdx, open_vhd

pytestmark = pytest.mark.anyio

BASE_ID = uuid.UUID("6f9e5d1c-2b1a-4c3d-8e7f-0a1b2c3d4e5f")
MOUNT_PATH = re.compile(r"\\\\\?\\Volume\{[0-9a-f-]{36}\}\\")
#: An HRESULT nothing returns on its own: seeing it means a call reached hcsim.
TRIPWIRE = 0x80040BAD
#: An absolute host path (of nothing).
ABSOLUTE = "C:\\x" if sys.platform == "win32" else "/x"


# ---------------------------------------------------------------- a disk for the tests


class FileDisk:
    """A regular file opened for the test, implementing aiohcs._vhd_handle's protocol.

    hcsim's computestorage takes such a file as a ``vhdHandle`` (a descriptor on POSIX,
    its HANDLE on Windows). A close while a call holds the disk is completed by the
    last release, as the protocol asks.
    """

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0))
        self._holds = 0
        self._closing = False

    def _vhd_handle(self) -> int:
        if self._fd is None:
            raise HandleClosedError()
        if sys.platform == "win32":
            import msvcrt

            return int(msvcrt.get_osfhandle(self._fd))
        return self._fd

    def _hold(self) -> None:
        if self._closing:
            raise HandleClosedError()
        self._holds += 1

    def _release(self) -> None:
        self._holds -= 1
        if self._closing and not self._holds:
            self._close_now()

    def _close_now(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @property
    def descriptor_open(self) -> bool:
        return self._fd is not None

    async def aclose(self) -> None:
        self._closing = True
        if not self._holds:
            self._close_now()
        await anyio.lowlevel.checkpoint()


async def open_disk(path: Path) -> Any:
    """A new, empty 64 MiB VHDX at ``path``, opened (aiohcs.vhd: create_vhdx, then open_vhd)."""
    await create_vhdx(path, 64 * 1024 * 1024)
    return await open_vhd(path)


class Disk:
    """A disk of :func:`open_disk` (any implementation of the protocol), its holds counted."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.path: str = inner.path
        self.holds = 0

    def _vhd_handle(self) -> int:
        handle: int = self.inner._vhd_handle()
        return handle

    def _hold(self) -> None:
        self.inner._hold()
        self.holds += 1

    def _release(self) -> None:
        self.holds -= 1
        self.inner._release()

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def disk(tmp_path: Path) -> AsyncIterator[Disk]:
    d = Disk(await open_disk(tmp_path / "disk.vhdx"))
    try:
        yield d
    finally:
        await d.aclose()


# ---------------------------------------------------------------- layers for the tests


@dataclass
class Tree:
    """A source folder, a base layer imported from it, and room for more."""

    root: Path
    src: Path
    base: Path
    parents: LayerData

    def __truediv__(self, name: str) -> Path:
        return self.root / name


@pytest.fixture
async def tree(tmp_path: Path) -> Tree:
    src = tmp_path / "src"
    (src / "Files").mkdir(parents=True)
    (src / "Files" / "hello.txt").write_text("hello")
    base = tmp_path / "base"
    await storage.import_layer(base, src)
    return Tree(tmp_path, src, base, storage.layer_data([(BASE_ID, base)]))


def error_of(info: pytest.ExceptionInfo[Any], hr: int) -> HcsError:
    error = info.value
    assert isinstance(error, HcsError)
    assert error.hresult == hr, error
    return error


# ---------------------------------------------------------------- each call


async def test_import_copies_the_folder_and_makes_a_layer(tree: Tree) -> None:
    assert (tree.base / "Files" / "hello.txt").read_text() == "hello"
    child = tree / "child"
    await storage.import_layer(child, tree.src, tree.parents)
    assert (child / "Files" / "hello.txt").exists()


async def test_import_onto_a_layer_is_already_exists(tree: Tree) -> None:
    with pytest.raises(HcsError) as info:
        await storage.import_layer(tree.base, tree.src)
    error = error_of(info, HResult.ERROR_ALREADY_EXISTS)
    assert error.operation == "ImportLayer"
    assert str(tree.base) in str(error)


async def test_import_of_a_missing_folder_or_parent_is_path_not_found(tree: Tree) -> None:
    with pytest.raises(HcsError) as info:
        await storage.import_layer(tree / "x", tree / "missing")
    error_of(info, HResult.ERROR_PATH_NOT_FOUND)
    with pytest.raises(HcsError) as info:
        await storage.import_layer(
            tree / "y", tree.src, storage.layer_data([(BASE_ID, tree / "nowhere")])
        )
    error_of(info, HResult.ERROR_PATH_NOT_FOUND)


async def test_export_copies_a_layer(tree: Tree) -> None:
    out = tree / "out"
    await storage.export_layer(tree.base, out, options={"IsWritableLayer": False})
    assert (out / "Files" / "hello.txt").read_text() == "hello"


async def test_export_of_a_folder_that_is_no_layer_is_invalid_layer(tree: Tree) -> None:
    with pytest.raises(HcsError) as info:
        await storage.export_layer(tree.src, tree / "out")
    assert error_of(info, HResult.HCS_E_INVALID_LAYER).operation == "ExportLayer"


async def test_export_legacy_writable_layer(tree: Tree) -> None:
    await storage.export_legacy_writable_layer(tree.src, tree.base, tree / "out", tree.parents)
    assert (tree / "out" / "Files" / "hello.txt").exists()
    with pytest.raises(HcsError) as info:
        await storage.export_legacy_writable_layer(tree / "missing", tree.base, tree / "o2")
    error_of(info, HResult.ERROR_PATH_NOT_FOUND)


async def test_a_users_folder_never_becomes_a_layer(tree: Tree) -> None:
    user = tree / "user"
    user.mkdir()
    (user / "mine.txt").write_text("mine")
    with pytest.raises(HcsError) as info:
        await storage.import_layer(user, tree.src)
    assert f"layer {user}" in str(error_of(info, HResult.ERROR_DIR_NOT_EMPTY))
    with pytest.raises(HcsError) as info:
        await storage.initialize_writable_layer(user, tree.parents)
    error_of(info, HResult.ERROR_DIR_NOT_EMPTY)
    with pytest.raises(HcsError) as info:
        await storage.destroy_layer(user)
    error_of(info, HResult.HCS_E_INVALID_LAYER)
    assert (user / "mine.txt").read_text() == "mine"


async def test_an_export_is_no_layer(tree: Tree) -> None:
    await storage.export_layer(tree.base, tree / "out")
    with pytest.raises(HcsError) as info:
        await storage.destroy_layer(tree / "out")
    error_of(info, HResult.HCS_E_INVALID_LAYER)
    assert (tree / "out" / "Files" / "hello.txt").exists()


async def test_a_layer_in_use_is_not_destroyed(tree: Tree) -> None:
    w = tree / "w"
    await storage.initialize_writable_layer(w, tree.parents)
    with pytest.raises(HcsError) as info:
        await storage.attach_layer_storage_filter(tree.base, tree.parents)  # (read-only)
    error_of(info, HResult.HCS_E_INVALID_LAYER)
    await storage.attach_layer_storage_filter(w, tree.parents)
    with pytest.raises(HcsError) as info:
        await storage.destroy_layer(w)
    error_of(info, HResult.ERROR_SHARING_VIOLATION)
    await storage.detach_layer_storage_filter(w)
    await storage.destroy_layer(w)
    assert not w.exists()


async def test_errors_name_the_path_they_are_about(tree: Tree) -> None:
    out = tree / "out"
    out.mkdir()
    (out / "x").write_text("x")
    with pytest.raises(HcsError) as info:
        await storage.export_layer(tree.base, out)
    message = str(error_of(info, HResult.ERROR_DIR_NOT_EMPTY))
    assert f"export folder {out}" in message
    assert str(tree.base) not in message
    gone = tree / "gone"
    missing_parent = storage.layer_data([(BASE_ID, gone)])
    calls: list[Callable[[], Awaitable[None]]] = [
        lambda: storage.initialize_writable_layer(tree / "w", missing_parent),
        lambda: storage.attach_layer_storage_filter(tree.base, missing_parent),
        lambda: storage.initialize_legacy_writable_layer(tree.src, tree / "lw", missing_parent),
        lambda: storage.import_layer(tree / "c", tree.src, missing_parent),
    ]
    for call in calls:
        with pytest.raises(HcsError) as info:
            await call()
        assert f"parent layer {gone}" in str(error_of(info, HResult.ERROR_PATH_NOT_FOUND))
    with pytest.raises(HcsError) as info:
        await storage.import_layer(tree / "c", tree / "nosource")
    assert f"source folder {tree / 'nosource'}" in str(info.value)


async def test_destroy_removes_a_layer_and_nothing_else(tree: Tree) -> None:
    await storage.destroy_layer(tree.base)
    assert not tree.base.exists()
    with pytest.raises(HcsError) as info:
        await storage.destroy_layer(tree.src)  # (a folder, not a layer: kept)
    error_of(info, HResult.HCS_E_INVALID_LAYER)
    assert (tree.src / "Files" / "hello.txt").exists()
    with pytest.raises(HcsError) as info:
        await storage.destroy_layer(tree.base)
    error_of(info, HResult.ERROR_PATH_NOT_FOUND)


async def test_format_then_mount_path(disk: Disk) -> None:
    with pytest.raises(HcsError) as info:
        await storage.get_layer_vhd_mount_path(disk)  # (not formatted yet)
    error = error_of(info, HResult.ERROR_INVALID_DATA)
    assert error.operation == "GetLayerVhdMountPath"
    assert disk.path in str(error)
    await storage.format_writable_layer_vhd(disk)
    path = await storage.get_layer_vhd_mount_path(disk)
    assert MOUNT_PATH.fullmatch(path), path
    assert await storage.get_layer_vhd_mount_path(disk) == path
    assert disk.holds == 0


async def test_setup_base_os_layer(tree: Tree, disk: Disk) -> None:
    # An unformatted disk is taken (hcsshim hands over an empty file for a container's
    # base layer), and so is a formatted one.
    await storage.setup_base_os_layer(tree.base, disk, {"Type": "Container"})
    await storage.format_writable_layer_vhd(disk)
    await storage.setup_base_os_layer(tree.base, disk, {"Type": "Vm"})
    await storage.setup_base_os_layer(tree.base, disk)
    with pytest.raises(HcsError) as info:
        await storage.setup_base_os_layer(tree / "missing", disk)
    error_of(info, HResult.ERROR_PATH_NOT_FOUND)
    assert disk.holds == 0


async def test_an_unknown_os_layer_type_is_passed_on(tree: Tree) -> None:
    # (Documents are open: a Type the schema does not list is HCS's to judge.)
    with pytest.raises(InvalidJson):
        await storage.setup_base_os_volume(tree.base, tree.src, {"Type": "Toaster"})


async def test_setup_base_os_volume(tree: Tree) -> None:
    await storage.setup_base_os_volume(tree.base, tree.src, {"Type": "Container"})
    with pytest.raises(HcsError) as info:
        await storage.setup_base_os_volume(tree.base, tree / "missing")
    assert error_of(info, HResult.ERROR_PATH_NOT_FOUND).operation == "SetupBaseOSVolume"


async def test_initialize_writable_layer_needs_parents(tree: Tree) -> None:
    await storage.initialize_writable_layer(tree / "w", tree.parents, {"Anything": 1})
    assert (tree / "w").is_dir()
    with pytest.raises(HcsError) as info:
        await storage.initialize_writable_layer(tree / "w2", storage.layer_data([]))
    error_of(info, HResult.E_INVALIDARG)


async def test_initialize_legacy_writable_layer(tree: Tree) -> None:
    await storage.initialize_legacy_writable_layer(tree.src, tree / "lw", tree.parents)
    assert (tree / "lw").is_dir()
    with pytest.raises(HcsError) as info:
        await storage.initialize_legacy_writable_layer(tree / "missing", tree / "lw2", tree.parents)
    error_of(info, HResult.ERROR_PATH_NOT_FOUND)


async def test_layer_storage_filter_attaches_and_detaches_once(tree: Tree) -> None:
    w = tree / "w"
    await storage.initialize_writable_layer(w, tree.parents)
    with pytest.raises(HcsError) as info:
        await storage.detach_layer_storage_filter(w)  # (not attached yet)
    error = error_of(info, HResult.ERROR_NOT_FOUND)
    assert error.operation == "DetachLayerStorageFilter"
    assert "process" not in str(error)
    assert type(error) is NotFound  # (not ProcessNotFound, its subclass)
    await storage.attach_layer_storage_filter(w, tree.parents)
    with pytest.raises(HcsError) as info:
        await storage.attach_layer_storage_filter(w, tree.parents)
    error_of(info, HResult.ERROR_ALREADY_EXISTS)
    await storage.detach_layer_storage_filter(w)
    with pytest.raises(HcsError) as info:
        await storage.attach_layer_storage_filter(tree.src, tree.parents)  # (no layer)
    error_of(info, HResult.HCS_E_INVALID_LAYER)


async def test_overlay_filters_attach_and_detach_once_per_type(tree: Tree) -> None:
    w = tree / "w"
    await storage.initialize_writable_layer(w, tree.parents)
    await storage.attach_overlay_filter(w, tree.parents, storage.FilterType.UNION_FS)
    with pytest.raises(HcsError) as info:
        await storage.attach_overlay_filter(w, tree.parents, "UnionFS")
    error_of(info, HResult.ERROR_ALREADY_EXISTS)
    # The type may come with the document; another type attaches on its own.
    wcifs = {**tree.parents.to_dict(), "FilterType": "WCIFS"}
    await storage.attach_overlay_filter(w, wcifs)
    await storage.detach_overlay_filter(w, "WCIFS")
    await storage.detach_overlay_filter(w, storage.FilterType.UNION_FS)
    with pytest.raises(HcsError) as info:
        await storage.detach_overlay_filter(w, storage.FilterType.UNION_FS)
    assert error_of(info, HResult.ERROR_NOT_FOUND).operation == "DetachOverlayFilter"
    assert type(info.value) is NotFound
    with pytest.raises(HcsError) as info:
        await storage.attach_overlay_filter(tree.src, tree.parents, "UnionFS")
    error_of(info, HResult.HCS_E_INVALID_LAYER)


async def test_an_unknown_filter_type_is_passed_on(tree: Tree) -> None:
    await storage.initialize_writable_layer(tree / "w", tree.parents)
    with pytest.raises(HcsError) as info:
        await storage.attach_overlay_filter(tree / "w", tree.parents, "FutureFS")
    error_of(info, HResult.E_INVALIDARG)


@pytest.mark.parametrize(
    ("export", "release"),
    [
        ("HcsSetupBaseOSVolume", WIN10_2104),
        ("HcsAttachOverlayFilter", NEWEST_SDK_RELEASE),
        ("HcsDetachOverlayFilter", NEWEST_SDK_RELEASE),
        ("HcsImportLayer", None),
        ("HcsGetLayerVhdMountPath", None),
    ],
)
async def test_a_missing_export_names_its_release(
    tree: Tree, disk: Disk, export: str, release: str | None
) -> None:
    call = CALLS[export]
    await call.prepare(tree, disk)
    with testing.hide_export(export), pytest.raises(UnsupportedOnThisHost) as info:
        await call.run(tree, disk)
    assert info.value.export == export
    assert release is None or info.value.release == release
    assert export in str(info.value)
    assert disk.holds == 0


# ---------------------------------------------------------------- every call: a table


@dataclass
class Call:
    """A valid call of one export, and what it needs made first."""

    run: Callable[[Tree, Disk], Awaitable[Any]]
    prepare: Callable[[Tree, Disk], Awaitable[Any]]


async def _nothing(tree: Tree, disk: Disk) -> None:
    pass


async def _writable(tree: Tree, disk: Disk) -> None:
    await storage.initialize_writable_layer(tree / "w", tree.parents)


async def _attached(tree: Tree, disk: Disk) -> None:
    await _writable(tree, disk)
    await storage.attach_layer_storage_filter(tree / "w", tree.parents)


async def _overlaid(tree: Tree, disk: Disk) -> None:
    await _writable(tree, disk)
    await storage.attach_overlay_filter(tree / "w", tree.parents, "UnionFS")


async def _formatted(tree: Tree, disk: Disk) -> None:
    await storage.format_writable_layer_vhd(disk)


CALLS: dict[str, Call] = {
    "HcsImportLayer": Call(lambda t, d: storage.import_layer(t / "new", t.src), _nothing),
    "HcsExportLayer": Call(lambda t, d: storage.export_layer(t.base, t / "out"), _nothing),
    "HcsExportLegacyWritableLayer": Call(
        lambda t, d: storage.export_legacy_writable_layer(t.src, t.base, t / "out"), _nothing
    ),
    "HcsDestroyLayer": Call(lambda t, d: storage.destroy_layer(t.base), _nothing),
    "HcsSetupBaseOSLayer": Call(lambda t, d: storage.setup_base_os_layer(t.base, d), _formatted),
    "HcsSetupBaseOSVolume": Call(
        lambda t, d: storage.setup_base_os_volume(t.base, t.src), _nothing
    ),
    "HcsInitializeWritableLayer": Call(
        lambda t, d: storage.initialize_writable_layer(t / "w", t.parents), _nothing
    ),
    "HcsInitializeLegacyWritableLayer": Call(
        lambda t, d: storage.initialize_legacy_writable_layer(t.src, t / "lw", t.parents),
        _nothing,
    ),
    "HcsAttachLayerStorageFilter": Call(
        lambda t, d: storage.attach_layer_storage_filter(t / "w", t.parents), _writable
    ),
    "HcsDetachLayerStorageFilter": Call(
        lambda t, d: storage.detach_layer_storage_filter(t / "w"), _attached
    ),
    "HcsFormatWritableLayerVhd": Call(lambda t, d: storage.format_writable_layer_vhd(d), _nothing),
    "HcsGetLayerVhdMountPath": Call(lambda t, d: storage.get_layer_vhd_mount_path(d), _formatted),
    "HcsAttachOverlayFilter": Call(
        lambda t, d: storage.attach_overlay_filter(t / "w", t.parents, "UnionFS"), _writable
    ),
    "HcsDetachOverlayFilter": Call(
        lambda t, d: storage.detach_overlay_filter(t / "w", "UnionFS"), _overlaid
    ),
}


def test_the_table_has_every_export_of_computestorage() -> None:
    cdef = Path(storage.__file__).parent / "include" / "computestorage.cdef"
    declared = set(re.findall(r"\bWINAPI (Hcs\w+)", cdef.read_text()))
    assert set(CALLS) == declared
    assert len(declared) == 14


@pytest.mark.parametrize("export", sorted(CALLS))
async def test_every_call_succeeds(tree: Tree, disk: Disk, export: str) -> None:
    call = CALLS[export]
    await call.prepare(tree, disk)
    await call.run(tree, disk)
    assert disk.holds == 0


@pytest.mark.parametrize("export", sorted(CALLS))
async def test_a_failure_of_hcs_is_its_typed_error(tree: Tree, disk: Disk, export: str) -> None:
    call = CALLS[export]
    await call.prepare(tree, disk)
    testing.fail_next(export, AccessDenied)
    with pytest.raises(AccessDenied) as info:
        await call.run(tree, disk)
    assert info.value.operation == export.removeprefix("Hcs")
    assert disk.holds == 0
    await call.run(tree, disk)  # (one failure only: the next call works)


@pytest.mark.parametrize("export", sorted(CALLS))
async def test_cancelling_the_await_lets_the_call_finish(
    tree: Tree, disk: Disk, export: str
) -> None:
    call = CALLS[export]
    await call.prepare(tree, disk)
    with testing.delay(export, sync_ms=300):
        start = anyio.current_time()
        with anyio.move_on_after(0.05) as scope:
            await call.run(tree, disk)
        elapsed = anyio.current_time() - start
    assert scope.cancelled_caught
    assert elapsed >= 0.25  # (the await ended when the call did, not at the cancel)
    assert disk.holds == 0


async def test_a_cancelled_call_has_done_its_work(tree: Tree, disk: Disk) -> None:
    with testing.delay("HcsImportLayer", sync_ms=200), anyio.move_on_after(0.02):
        await storage.import_layer(tree / "new", tree.src)
    assert (tree / "new" / "Files" / "hello.txt").exists()
    with testing.delay("HcsFormatWritableLayerVhd", sync_ms=200), anyio.move_on_after(0.02):
        await storage.format_writable_layer_vhd(disk)
    assert MOUNT_PATH.fullmatch(await storage.get_layer_vhd_mount_path(disk))


async def test_a_disk_closed_during_a_call_stays_open_for_it(disk: Disk) -> None:
    async with anyio.create_task_group() as tg:
        with testing.delay("HcsFormatWritableLayerVhd", sync_ms=300):
            tg.start_soon(storage.format_writable_layer_vhd, disk)
            await anyio.sleep(0.1)  # (the call is in HCS now)
            await disk.aclose()
    assert disk.holds == 0
    with pytest.raises(HandleClosedError):
        disk._vhd_handle()
    if isinstance(disk.inner, FileDisk):
        assert not disk.inner.descriptor_open  # (closed by the last release)
    for call in (storage.format_writable_layer_vhd, storage.get_layer_vhd_mount_path):
        with pytest.raises(HandleClosedError):
            await call(disk)


# ---------------------------------------------------------------- bad input, before C


@pytest.fixture
def tripwire(tree: Tree, disk: Disk) -> Any:
    """Every HCS call fails with TRIPWIRE while the fixture lives: nothing may reach one.

    (After ``tree`` and ``disk``, which are made through HCS and virtdisk.)
    """
    testing.fail_next("*", TRIPWIRE, count=1_000_000)
    yield
    testing.fail_next("*", TRIPWIRE, count=0)


def _path_calls(tree: Tree, disk: Disk, bad: Any) -> list[Callable[[], Awaitable[Any]]]:
    """Every call with one of its paths replaced by ``bad``."""
    t, p = tree, tree.parents
    return [
        lambda: storage.import_layer(bad, t.src),
        lambda: storage.import_layer(t / "n", bad),
        lambda: storage.export_layer(bad, t / "o"),
        lambda: storage.export_layer(t.base, bad),
        lambda: storage.export_legacy_writable_layer(bad, t.base, t / "o"),
        lambda: storage.export_legacy_writable_layer(t.src, bad, t / "o"),
        lambda: storage.export_legacy_writable_layer(t.src, t.base, bad),
        lambda: storage.destroy_layer(bad),
        lambda: storage.setup_base_os_layer(bad, disk),
        lambda: storage.setup_base_os_volume(bad, t.src),
        lambda: storage.setup_base_os_volume(t.base, bad),
        lambda: storage.initialize_writable_layer(bad, p),
        lambda: storage.initialize_legacy_writable_layer(bad, t / "lw", p),
        lambda: storage.initialize_legacy_writable_layer(t.src, bad, p),
        lambda: storage.attach_layer_storage_filter(bad, p),
        lambda: storage.detach_layer_storage_filter(bad),
        lambda: storage.attach_overlay_filter(bad, p, "UnionFS"),
        lambda: storage.detach_overlay_filter(bad, "UnionFS"),
    ]


@pytest.mark.usefixtures("tripwire")
@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        ("relative/layer", InvalidArgumentError, "absolute"),
        ("", InvalidArgumentError, "empty"),
        ("/a\0b" if sys.platform != "win32" else "C:\\a\0b", InvalidArgumentError, "NUL"),
        (None, InvalidArgumentTypeError, "str or os.PathLike"),
        (7, InvalidArgumentTypeError, "str or os.PathLike"),
        (b"/bytes", InvalidArgumentTypeError, "str or os.PathLike"),
    ],
)
async def test_bad_paths_are_refused_before_hcs(
    tree: Tree, disk: Disk, bad: Any, error: type[Exception], match: str
) -> None:
    for call in _path_calls(tree, disk, bad):
        with pytest.raises(error, match=match):
            await call()


@pytest.mark.usefixtures("tripwire")
@pytest.mark.parametrize(
    ("document", "where"),
    [
        ({"Layers": [{"Id": "not-a-guid", "Path": ABSOLUTE}]}, "Layers.0.Id"),
        ({"Layers": {"Id": str(BASE_ID)}}, "Layers"),
        ('{"Layers": [', ""),
        ("[1, 2]", ""),
        (7, ""),
        ({"Layers": [{"Id": str(BASE_ID), "Path": "/a\0b"}]}, "Layers.0.Path"),
        ({"Layers": [{"Id": str(BASE_ID), "Path": "relative"}]}, "Layers.0.Path"),
        (
            {"Layers": [{"Id": str(BASE_ID), "Path": "x", "PathType": "AbsolutePath"}]},
            "Layers.0.Path",
        ),
        ({"Layers": [{"Id": str(BASE_ID), "Path": ABSOLUTE, "Owner": "a\0"}]}, ""),
    ],
)
async def test_bad_layer_data_is_refused_before_hcs(tree: Tree, document: Any, where: str) -> None:
    t = tree
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: storage.import_layer(t / "n", t.src, document),
        lambda: storage.export_layer(t.base, t / "o", document),
        lambda: storage.export_legacy_writable_layer(t.src, t.base, t / "o", document),
        lambda: storage.initialize_writable_layer(t / "w", document),
        lambda: storage.initialize_legacy_writable_layer(t.src, t / "lw", document),
        lambda: storage.attach_layer_storage_filter(t / "w", document),
        lambda: storage.attach_overlay_filter(t / "w", document, "UnionFS"),
    ]
    for call in calls:
        with pytest.raises(InvalidDocumentError) as info:
            await call()
        assert info.value.argument == "layer_data"
        assert info.value.path == where


async def test_a_share_name_in_layer_data_is_no_host_path(tree: Tree) -> None:
    # (Only an AbsolutePath must be absolute; hcsim then finds no folder of that name.)
    share = {"Layers": [{"Id": str(BASE_ID), "Path": "share", "PathType": "VirtualSmbShareName"}]}
    with pytest.raises(HcsError) as info:
        await storage.initialize_writable_layer(tree / "w", share)
    error_of(info, HResult.ERROR_PATH_NOT_FOUND)


@pytest.mark.usefixtures("tripwire")
async def test_calls_needing_parents_refuse_none(tree: Tree) -> None:
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: storage.initialize_writable_layer(tree / "w", None),
        lambda: storage.initialize_legacy_writable_layer(tree.src, tree / "lw", None),
        lambda: storage.attach_layer_storage_filter(tree / "w", None),
        lambda: storage.attach_overlay_filter(tree / "w", None, "UnionFS"),
    ]
    for call in calls:
        with pytest.raises(InvalidArgumentTypeError, match="parent layers"):
            await call()


@pytest.mark.usefixtures("tripwire")
async def test_bad_options_are_refused_before_hcs(tree: Tree, disk: Disk) -> None:
    t, p = tree, tree.parents
    documents: list[tuple[Callable[[], Awaitable[Any]], str]] = [
        (
            lambda: storage.export_layer(t.base, t / "o", None, {"IsWritableLayer": 3}),
            "IsWritableLayer",
        ),
        (lambda: storage.setup_base_os_layer(t.base, disk, {"Type": 5}), "Type"),
        (lambda: storage.setup_base_os_volume(t.base, t.src, "[]"), ""),
        (lambda: storage.initialize_writable_layer(t / "w", p, "[]"), ""),
    ]
    for call, where in documents:
        with pytest.raises(InvalidDocumentError) as info:
            await call()
        assert info.value.argument == "options"
        assert info.value.path == where
    with pytest.raises(InvalidArgumentTypeError, match="options"):
        await storage.initialize_legacy_writable_layer(t.src, t / "l", p, 5)


@pytest.mark.usefixtures("tripwire")
async def test_bad_filter_types_are_refused_before_hcs(tree: Tree) -> None:
    w, p = tree / "w", tree.parents
    with pytest.raises(InvalidArgumentError, match="needs its filter type"):
        await storage.attach_overlay_filter(w, p)
    with pytest.raises(InvalidArgumentError, match="contradicts"):
        await storage.attach_overlay_filter(w, {**p.to_dict(), "FilterType": "WCIFS"}, "UnionFS")
    bad: Any
    for bad, error in (
        (None, InvalidArgumentTypeError),
        ("", InvalidArgumentError),
        (3, TypeError),
    ):
        with pytest.raises(error):
            await storage.detach_overlay_filter(w, bad)
    with pytest.raises(InvalidArgumentError, match="NUL"):
        await storage.attach_overlay_filter(w, p, "Union\0FS")


@pytest.mark.usefixtures("tripwire")
@pytest.mark.parametrize("bad", [None, 3, "/disk.vhdx", FileDisk, object()])
async def test_a_disk_must_be_a_disk(tree: Tree, bad: Any) -> None:
    for call in (
        lambda: storage.format_writable_layer_vhd(bad),
        lambda: storage.get_layer_vhd_mount_path(bad),
        lambda: storage.setup_base_os_layer(tree.base, bad),
    ):
        with pytest.raises(InvalidArgumentTypeError, match="virtual disk"):
            await call()


@pytest.mark.usefixtures("tripwire")
async def test_a_closed_disk_is_refused(tree: Tree, disk: Disk) -> None:
    await disk.aclose()
    for call in (
        lambda: storage.format_writable_layer_vhd(disk),
        lambda: storage.get_layer_vhd_mount_path(disk),
        lambda: storage.setup_base_os_layer(tree.base, disk),
    ):
        with pytest.raises(HandleClosedError):
            await call()
    assert disk.holds == 0


# ---------------------------------------------------------------- the LayerData builder


def test_layer_data_from_pairs(tmp_path: Path) -> None:
    other = uuid.uuid4()
    data = storage.layer_data(
        [(BASE_ID, tmp_path / "a"), (str(other).upper(), str(tmp_path / "b"))],
        schema_version=(2, 1),
    )
    assert data.to_dict() == {
        "SchemaVersion": {"Major": 2, "Minor": 1},
        "Layers": [
            {"Id": str(BASE_ID), "Path": str(tmp_path / "a")},
            {"Id": str(other).upper(), "Path": str(tmp_path / "b")},
        ],
    }
    assert storage.layer_data([]).to_dict() == {"Layers": []}
    layer = data.layers[0] if data.layers else None
    assert storage.layer_data([layer]).layers == [layer]


@pytest.mark.parametrize(
    ("layers", "error", "match"),
    [
        ([("not-a-guid", ABSOLUTE)], InvalidArgumentError, r"layers\[0\] id must be a GUID"),
        ([("{" + str(BASE_ID) + "}", ABSOLUTE)], InvalidArgumentError, "GUID"),
        ([(5, ABSOLUTE)], InvalidArgumentTypeError, "id"),
        ([(BASE_ID, "relative")], InvalidArgumentError, r"layers\[0\] path must be an absolute"),
        ([(BASE_ID, None)], InvalidArgumentTypeError, "path"),
        (
            [(BASE_ID, ABSOLUTE), (str(BASE_ID).upper(), ABSOLUTE + "y")],
            InvalidArgumentError,
            r"layers\[1\] repeats the layer id",
        ),
        ([(BASE_ID,)], InvalidArgumentTypeError, "pair"),
        ([ABSOLUTE], InvalidArgumentTypeError, "pair"),
        (ABSOLUTE, InvalidArgumentTypeError, "iterable"),
        (None, InvalidArgumentTypeError, "iterable"),
    ],
)
def test_layer_data_refuses_bad_layers(layers: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        storage.layer_data(layers)


@pytest.mark.parametrize("version", [(2,), ("2", "1"), (2, -1), (True, 1), [2, 1]])
def test_layer_data_refuses_a_bad_schema_version(version: Any) -> None:
    with pytest.raises(InvalidArgumentTypeError, match="schema_version"):
        storage.layer_data([], schema_version=version)


def test_filter_type_prints_its_value() -> None:
    assert str(storage.FilterType.UNION_FS) == "UnionFS"
    assert f"{storage.FilterType.WCIFS}" == "WCIFS"
