"""Container storage: the layer calls of ``computestorage.dll``, as awaitable functions.

Every export of computestorage has one function here. They are synchronous in HCS (the
work is done when the call returns), so each runs in a worker thread and never stalls
the event loop. Cancelling an await abandons the wait, not the work: the call runs to
its end and the cancellation is raised afterwards.

Arguments are checked before anything reaches HCS: paths must be absolute host paths
(``str`` or ``os.PathLike``, no NUL), documents are validated against their schema type
(:class:`~aiohcs.schema.LayerData`, :class:`~aiohcs.schema.OsLayerOptions`,
:class:`~aiohcs.schema.ExportLayerOptions`: a model, a mapping or JSON text), and a disk
is an open :class:`aiohcs.vhd.VirtualDisk`. :func:`layer_data` builds the LayerData of a
list of parent layers. Bad input raises :class:`~aiohcs.errors.InvalidArgumentError` (or
one of its subclasses); a failure of HCS raises the :class:`~aiohcs.errors.HcsError` of its
HRESULT, naming the call and the path concerned.
"""

from __future__ import annotations

import enum
import os
import re
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from aiohcs import _host_calls, _json
from aiohcs._args import check_host_path, check_text
from aiohcs._documents import coerce_document, document_text, object_text
from aiohcs._hresult import HResult, describe
from aiohcs._native import (
    ffi,
    lib,
    new_document_ptr,
    require_export,
    required_release,
    take_document,
    to_wide,
)
from aiohcs._vhd_handle import VhdHandleSource, check_disk, held_handle
from aiohcs.errors import (
    HcsError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    InvalidDocumentError,
    NotFound,
    UnsupportedOnThisHost,
    error_from_hresult,
)

if TYPE_CHECKING:
    from aiohcs.schema import LayerData

__all__ = [
    "FilterType",
    "attach_layer_storage_filter",
    "attach_overlay_filter",
    "destroy_layer",
    "detach_layer_storage_filter",
    "detach_overlay_filter",
    "export_layer",
    "export_legacy_writable_layer",
    "format_writable_layer_vhd",
    "get_layer_vhd_mount_path",
    "import_layer",
    "initialize_legacy_writable_layer",
    "initialize_writable_layer",
    "layer_data",
    "setup_base_os_layer",
    "setup_base_os_volume",
]

#: A host path argument.
StrPath: TypeAlias = "str | os.PathLike[str]"
#: A parent layer for :func:`layer_data`: ``(id, path)`` or a :class:`~aiohcs.schema.Layer`.
LayerSpec: TypeAlias = Any

_LAYER_DATA: Final = "LayerData"
_EXPORT_OPTIONS: Final = "ExportLayerOptions"
_OS_LAYER_OPTIONS: Final = "OsLayerOptions"
_GUID: Final = re.compile(r"[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}")


class FilterType(str, enum.Enum):
    """The file system filter of :func:`attach_overlay_filter` (LayerData ``FilterType``).

    Other strings are passed on as they are (a newer Windows may know more filters).
    """

    UNION_FS = "UnionFS"
    WCIFS = "WCIFS"

    def __str__(self) -> str:
        return str(self.value)


# ---------------------------------------------------------------- documents


def layer_data(layers: Iterable[LayerSpec] = (), *, schema_version: Any = None) -> LayerData:
    """The :class:`~aiohcs.schema.LayerData` naming ``layers``, in the order given.

    Each layer is an ``(id, path)`` pair (``id`` a :class:`uuid.UUID` or GUID text, ``path``
    an absolute host path) or a :class:`~aiohcs.schema.Layer`. HCS expects a writable or
    child layer's parents nearest first, the base OS layer last. ``schema_version``:
    ``(major, minor)`` for a ``SchemaVersion`` member (none by default, as hcsshim sends).
    Raises :class:`~aiohcs.errors.InvalidArgumentError` for a bad id or path, or an id
    given twice (compared as GUIDs: case does not matter).
    """
    from aiohcs.schema import Layer, LayerData

    if isinstance(layers, (str, bytes)) or not isinstance(layers, Iterable):
        raise InvalidArgumentTypeError(
            f"layers must be an iterable of (id, path) pairs, not {type(layers).__name__}"
        )
    items: list[Any] = []
    for index, item in enumerate(layers):
        if isinstance(item, Layer):
            items.append(item)
            continue
        if not isinstance(item, tuple) or len(item) != 2:
            raise InvalidArgumentTypeError(
                f"layers[{index}] must be an (id, path) pair or a Layer, not {item!r}"
            )
        layer_id, path = item
        items.append(
            Layer(
                id=_guid(layer_id, f"layers[{index}] id"),
                path=check_host_path(path, f"layers[{index}] path"),
            )
        )
    seen: set[uuid.UUID] = set()
    for index, layer in enumerate(items):
        key = uuid.UUID(str(layer.id)) if _GUID.fullmatch(str(layer.id)) else None
        if key in seen:
            raise InvalidArgumentError(f"layers[{index}] repeats the layer id {layer.id}")
        if key is not None:
            seen.add(key)
    data = LayerData(layers=items)
    if schema_version is not None:
        data.schema_version = _version(schema_version)
    return data


def _guid(value: Any, what: str) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    text = check_text(value, what, allow_empty=False, expected="a uuid.UUID or GUID text")
    if not _GUID.fullmatch(text):
        raise InvalidArgumentError(
            f"{what} must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx), not {text!r}"
        )
    return text


def _version(value: Any) -> Any:
    from aiohcs.schema import Version

    if (
        not isinstance(value, tuple)
        or len(value) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value)
    ):
        raise InvalidArgumentTypeError(
            f"schema_version must be a (major, minor) pair of ints, not {value!r}"
        )
    return Version(major=value[0], minor=value[1])


def _layer_data_text(value: Any, *, default_empty: bool = False) -> str:
    """LayerData JSON text; ``None`` is no parent layers where ``default_empty``."""
    if value is None:
        if not default_empty:
            raise InvalidArgumentTypeError(
                "layer_data must be a LayerData (model, mapping or JSON text), not None: "
                "this call needs the parent layers (see aiohcs.storage.layer_data)"
            )
        value = {"Layers": []}
    return _document(_layer_data_model(value), _LAYER_DATA, "layer_data")


def _layer_data_model(value: Any) -> Any:
    """``value`` validated as LayerData, its layers' paths checked as host paths.

    A layer's ``Path`` is an absolute host path unless its ``PathType`` says it is
    something else (``VirtualSmbShareName``).
    """
    model = coerce_document(value, _LAYER_DATA, argument="layer_data")
    for index, layer in enumerate(model.layers or ()):
        if layer.path is None or layer.path_type not in (None, "AbsolutePath"):
            continue
        try:
            check_host_path(layer.path, "the path")
        except InvalidArgumentError as exc:
            where = f"Layers.{index}.Path"
            raise InvalidDocumentError(
                _LAYER_DATA, [(where, str(exc))], argument="layer_data"
            ) from None
    return model


def _document(value: Any, type_name: str, argument: str) -> str:
    text = document_text(value, type_name, argument=argument)
    assert text is not None  # (None is handled by every caller)
    return text


def _options_text(value: Any, type_name: str, absent: str) -> str:
    """An options document's text; ``absent`` (what hcsshim sends) when it is None."""
    return absent if value is None else _document(value, type_name, "options")


def _filter_type(value: Any) -> str:
    text = check_text(value, "filter_type", allow_empty=False, expected="a FilterType or str")
    return text.value if isinstance(text, FilterType) else str(text)


def _overlay_text(value: Any, filter_type: Any) -> str:
    """LayerData with the member ``FilterType``, from ``value`` and/or ``filter_type``."""
    doc = _json.read(_layer_data_model({} if value is None else value).to_json())
    given = doc.get("FilterType")
    if filter_type is None:
        if given is None:
            raise InvalidArgumentError(
                "an overlay filter needs its filter type: pass filter_type (FilterType.UNION_FS "
                "or FilterType.WCIFS) or a FilterType member in layer_data"
            )
        filter_type = given
    name = _filter_type(filter_type)
    if given is not None and given != name:
        raise InvalidArgumentError(
            f"filter_type {name!r} contradicts layer_data's FilterType {given!r}"
        )
    doc["FilterType"] = name
    return _document(doc, _LAYER_DATA, "layer_data")


# ---------------------------------------------------------------- calls


#: (what, path): a folder a call names in its errors.
_Named: TypeAlias = "tuple[str, str]"
_NOT_FOUND: Final = frozenset({HResult.ERROR_PATH_NOT_FOUND, HResult.ERROR_FILE_NOT_FOUND})
_IN_THE_WAY: Final = frozenset({HResult.ERROR_ALREADY_EXISTS, HResult.ERROR_DIR_NOT_EMPTY})


async def _call(
    export: str,
    *args: Any,
    subject: str,
    needs: Sequence[_Named] = (),
    creates: _Named | None = None,
) -> None:
    """Call the computestorage ``export`` in a worker thread; raise its failure.

    ``args``: a ``str`` is passed as a wide string, anything else (a ``HANDLE``) as it is.
    The error names ``subject``, unless it is about another path: a not-found failure
    names the first of the folders the call ``needs`` that is missing (looked at in the
    worker thread, after the call), an already-exists or not-empty failure the folder the
    call ``creates``.
    """
    fn = getattr(lib, export)
    w = [to_wide(arg) if isinstance(arg, str) else arg for arg in args]
    named = [subject]

    def run() -> tuple[int, None]:
        hr = int(fn(*w))
        if (hr & 0xFFFFFFFF) in _NOT_FOUND:
            missing = next((f"{what} {p}" for what, p in needs if not os.path.isdir(p)), None)
            named[0] = missing or subject
        elif (hr & 0xFFFFFFFF) in _IN_THE_WAY and creates is not None:
            named[0] = f"{creates[0]} {creates[1]}"
        return hr, None

    await _host_calls.call(export, run, failure=lambda hr: _failure(hr, export, named[0]))


def _parent_folders(data: str) -> list[_Named]:
    """The parent layers of LayerData text that are host folders, as :func:`_call` names them."""
    layers = _json.read(data).get("Layers") or ()
    return [
        ("parent layer", str(layer["Path"]))
        for layer in layers
        if isinstance(layer.get("Path"), str) and layer.get("PathType") in (None, "AbsolutePath")
    ]


def _failure(hr: int, export: str, subject: str) -> HcsError:
    hr &= 0xFFFFFFFF
    if hr == HResult.ERROR_PROC_NOT_FOUND:  # (an export this host lacks: name its release)
        return UnsupportedOnThisHost(
            export=export, release=required_release(export), operation=export.removeprefix("Hcs")
        )
    operation = export.removeprefix("Hcs")
    if hr == HResult.ERROR_NOT_FOUND:  # (what is detached: a NotFound, not a process's)
        return NotFound(hr, f"Element not found ({subject})", operation=operation)
    meaning = describe(hr)
    message = f"{meaning} ({subject})" if meaning else subject
    return error_from_hresult(hr, message, operation=operation)


def _paths(**paths: Any) -> list[str]:
    return [check_host_path(value, name) for name, value in paths.items()]


async def import_layer(
    layer_path: StrPath, source_folder_path: StrPath, layer_data: Any = None
) -> None:
    """Import the layer in ``source_folder_path`` (transport format) as ``layer_path``.

    ``layer_data``: the parent layers (LayerData; None: a base layer, no parents).
    """
    path, source = _paths(layer_path=layer_path, source_folder_path=source_folder_path)
    await _host_calls.admit((_LAYER_DATA,))
    data = _layer_data_text(layer_data, default_empty=True)
    needs = [*_parent_folders(data), ("source folder", source)]
    await _call(
        "HcsImportLayer",
        path,
        source,
        data,
        subject=f"layer {path}",
        needs=needs,
        creates=("layer", path),
    )


async def export_layer(
    layer_path: StrPath, export_folder_path: StrPath, layer_data: Any = None, options: Any = None
) -> None:
    """Export the layer ``layer_path`` into ``export_folder_path`` (transport format).

    ``layer_data``: its parent layers (LayerData; None: none). ``options``:
    ExportLayerOptions, e.g. ``{"IsWritableLayer": True}`` (None: ``{}``).
    """
    path, target = _paths(layer_path=layer_path, export_folder_path=export_folder_path)
    await _host_calls.admit((_LAYER_DATA, _EXPORT_OPTIONS))
    data = _layer_data_text(layer_data, default_empty=True)
    opts = _options_text(options, _EXPORT_OPTIONS, "{}")
    needs = [*_parent_folders(data), ("layer", path)]
    await _call(
        "HcsExportLayer",
        path,
        target,
        data,
        opts,
        subject=f"layer {path}",
        needs=needs,
        creates=("export folder", target),
    )


async def export_legacy_writable_layer(
    writable_layer_mount_path: StrPath,
    writable_layer_folder_path: StrPath,
    export_folder_path: StrPath,
    layer_data: Any = None,
) -> None:
    """Export a legacy writable layer (mounted at the first path) into ``export_folder_path``.

    ``layer_data``: its parent layers (LayerData; None: none).
    """
    paths = _paths(
        writable_layer_mount_path=writable_layer_mount_path,
        writable_layer_folder_path=writable_layer_folder_path,
        export_folder_path=export_folder_path,
    )
    await _host_calls.admit((_LAYER_DATA,))
    data = _layer_data_text(layer_data, default_empty=True)
    needs = [*_parent_folders(data), ("mount path", paths[0]), ("writable layer", paths[1])]
    await _call(
        "HcsExportLegacyWritableLayer",
        *paths,
        data,
        subject=f"writable layer {paths[1]}",
        needs=needs,
        creates=("export folder", paths[2]),
    )


async def destroy_layer(layer_path: StrPath) -> None:
    """Delete the layer ``layer_path`` (HCS deletes it with elevated rights: take care)."""
    (path,) = _paths(layer_path=layer_path)
    await _host_calls.admit()
    await _call("HcsDestroyLayer", path, subject=f"layer {path}")


async def setup_base_os_layer(
    layer_path: StrPath, vhd: VhdHandleSource, options: Any = None
) -> None:
    """Set up ``layer_path`` as a base OS layer, with the disk ``vhd``.

    ``vhd``: an open :class:`aiohcs.vhd.VirtualDisk` (for a VM layer its
    SystemTemplateBase.vhdx); it is held open until HCS has returned. ``options``:
    OsLayerOptions, e.g. ``{"Type": "Vm"}`` (None: ``{}``).
    """
    (path,) = _paths(layer_path=layer_path)
    disk = check_disk(vhd)
    await _host_calls.admit((_OS_LAYER_OPTIONS,))
    opts = _options_text(options, _OS_LAYER_OPTIONS, "{}")
    with held_handle(disk) as handle:
        disk_handle = ffi.cast("HANDLE", handle)
        await _call("HcsSetupBaseOSLayer", path, disk_handle, opts, subject=f"layer {path}")


async def setup_base_os_volume(
    layer_path: StrPath, volume_path: StrPath, options: Any = None
) -> None:
    """Set up ``layer_path`` as a base OS layer from the mounted volume ``volume_path``.

    ``options``: OsLayerOptions (None: ``{}``). Needs Windows 10 2104 / Server 2022.
    """
    path, volume = _paths(layer_path=layer_path, volume_path=volume_path)
    require_export("HcsSetupBaseOSVolume")
    await _host_calls.admit((_OS_LAYER_OPTIONS,))
    opts = _options_text(options, _OS_LAYER_OPTIONS, "{}")
    needs = [("volume", volume), ("layer", path)]
    await _call("HcsSetupBaseOSVolume", path, volume, opts, subject=f"layer {path}", needs=needs)


async def initialize_writable_layer(
    writable_layer_path: StrPath, layer_data: Any, options: Any = None
) -> None:
    """Create the writable (scratch) layer ``writable_layer_path`` over ``layer_data``'s parents.

    ``options``: a JSON object HCS does not use today (None: ``""``, as hcsshim sends).
    """
    (path,) = _paths(writable_layer_path=writable_layer_path)
    await _host_calls.admit((_LAYER_DATA,))
    data = _layer_data_text(layer_data)
    opts = _free_options(options)
    subject = f"writable layer {path}"
    await _call(
        "HcsInitializeWritableLayer",
        path,
        data,
        opts,
        subject=subject,
        needs=_parent_folders(data),
        creates=("writable layer", path),
    )


async def initialize_legacy_writable_layer(
    writable_layer_mount_path: StrPath,
    writable_layer_folder_path: StrPath,
    layer_data: Any,
    options: Any = None,
) -> None:
    """Create a legacy writable layer (hive folder variant) over ``layer_data``'s parents.

    ``options``: a JSON object (None: ``""``).
    """
    mount, folder = _paths(
        writable_layer_mount_path=writable_layer_mount_path,
        writable_layer_folder_path=writable_layer_folder_path,
    )
    await _host_calls.admit((_LAYER_DATA,))
    data = _layer_data_text(layer_data)
    opts = _free_options(options)
    subject = f"writable layer {folder}"
    needs = [*_parent_folders(data), ("mount path", mount)]
    await _call(
        "HcsInitializeLegacyWritableLayer",
        mount,
        folder,
        data,
        opts,
        subject=subject,
        needs=needs,
        creates=("writable layer", folder),
    )


def _free_options(value: Any) -> str:
    """The options of the initialize calls: any JSON object (no schema type names them)."""
    return object_text(value, argument="options") or ""


async def attach_layer_storage_filter(layer_path: StrPath, layer_data: Any) -> None:
    """Attach the layer storage filter to the writable layer ``layer_path``.

    ``layer_data``: its read-only parent layers (LayerData).
    """
    (path,) = _paths(layer_path=layer_path)
    await _host_calls.admit((_LAYER_DATA,))
    data = _layer_data_text(layer_data)
    needs = [*_parent_folders(data), ("layer", path)]
    await _call("HcsAttachLayerStorageFilter", path, data, subject=f"layer {path}", needs=needs)


async def detach_layer_storage_filter(layer_path: StrPath) -> None:
    """Detach the layer storage filter from the writable layer ``layer_path``."""
    (path,) = _paths(layer_path=layer_path)
    await _host_calls.admit()
    await _call("HcsDetachLayerStorageFilter", path, subject=f"layer {path}")


async def format_writable_layer_vhd(vhd: VhdHandleSource) -> None:
    """Partition and format the disk ``vhd`` as a writable layer.

    ``vhd``: an open :class:`aiohcs.vhd.VirtualDisk`, held open until HCS has returned.
    """
    disk = check_disk(vhd)
    await _host_calls.admit()
    with held_handle(disk) as handle:
        disk_handle = ffi.cast("HANDLE", handle)
        await _call("HcsFormatWritableLayerVhd", disk_handle, subject=_disk_subject(disk))


async def get_layer_vhd_mount_path(vhd: VhdHandleSource) -> str:
    r"""The volume path of the layer disk ``vhd`` (``\\?\Volume{<guid>}\``).

    ``vhd``: an open :class:`aiohcs.vhd.VirtualDisk`, held open until HCS has returned.
    """
    disk = check_disk(vhd)
    await _host_calls.admit()

    export, subject = "HcsGetLayerVhdMountPath", _disk_subject(disk)
    with held_handle(disk) as handle:
        disk_handle = ffi.cast("HANDLE", handle)

        def call() -> tuple[int, str | None]:
            pp = new_document_ptr()
            hr: int = lib.HcsGetLayerVhdMountPath(disk_handle, pp)
            return hr, take_document(pp)  # (LocalFree, as the documentation says)

        path = await _host_calls.call(
            export, call, failure=lambda hr: _failure(hr, export, subject)
        )
    if path is None:
        raise _failure(HResult.E_UNEXPECTED, export, f"no path for {subject}")
    return path


def _disk_subject(disk: VhdHandleSource) -> str:
    path = getattr(disk, "path", None)
    return f"disk {path}" if isinstance(path, str) else "disk"


async def attach_overlay_filter(
    volume_mount_point: StrPath, layer_data: Any, filter_type: FilterType | str | None = None
) -> None:
    """Attach an overlay filter to the writable layer volume at ``volume_mount_point``.

    ``layer_data``: the read-only parent layers (LayerData). ``filter_type`` goes into its
    ``FilterType`` member (None: the one ``layer_data`` has). Needs the newest Windows
    (:class:`~aiohcs.errors.UnsupportedOnThisHost` on older hosts).
    """
    (volume,) = _paths(volume_mount_point=volume_mount_point)
    if layer_data is None:
        _layer_data_text(None)  # (raises: the parents are needed)
    if filter_type is not None:
        _filter_type(filter_type)
    require_export("HcsAttachOverlayFilter")
    await _host_calls.admit((_LAYER_DATA,))
    data = _overlay_text(layer_data, filter_type)
    needs = [*_parent_folders(data), ("volume", volume)]
    await _call("HcsAttachOverlayFilter", volume, data, subject=f"volume {volume}", needs=needs)


async def detach_overlay_filter(volume_mount_point: StrPath, filter_type: FilterType | str) -> None:
    """Detach the overlay filter of ``filter_type`` from the volume at ``volume_mount_point``.

    Needs the newest Windows (:class:`~aiohcs.errors.UnsupportedOnThisHost` on older hosts).
    """
    (volume,) = _paths(volume_mount_point=volume_mount_point)
    name = _filter_type(filter_type)
    require_export("HcsDetachOverlayFilter")
    await _host_calls.admit((_LAYER_DATA,))
    data = _document({"FilterType": name}, _LAYER_DATA, "layer_data")
    await _call("HcsDetachOverlayFilter", volume, data, subject=f"volume {volume}")
