"""``aiohcs layer ...``: container image layers (computestorage) from the command line.

``import``, ``export``, ``destroy``, ``init-writable``, ``attach``, ``detach`` and the
disk actions ``format``, ``mount-path`` and ``setup-base`` call :mod:`aiohcs.storage` (a
disk is opened with :mod:`aiohcs.vhd` for the call). Paths may be relative: they are made
absolute here, since HCS resolves paths in the compute service, not in the tool's working
directory. A parent layer is ``ID=PATH`` (its GUID and its folder), nearest parent first.
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Any, Final

from aiohcs.cli._runtime import Context

__all__ = ["add_layer_parser", "cmd_layer"]

_GUID = re.compile(r"[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}")
_OVERLAYS = ("UnionFS", "WCIFS")


def _parent(text: str) -> tuple[str, str]:
    """An argparse type: ``ID=PATH``, the GUID and folder of a parent layer."""
    layer_id, sep, path = text.partition("=")
    if not sep or not path:
        raise argparse.ArgumentTypeError(
            f"expected ID=PATH (a layer's GUID and folder), not {text!r}"
        )
    if not _GUID.fullmatch(layer_id):
        raise argparse.ArgumentTypeError(f"{layer_id!r} is not a GUID (xxxxxxxx-xxxx-...)")
    return layer_id, os.path.abspath(path)


#: The actions: name, positionals (dest:METAVAR), options, help, description.
_ACTIONS: Final = (
    (
        "import",
        ("src:SRC", "path:LAYER_PATH"),
        ("parents",),
        "import a layer from a folder",
        "Import the layer in folder SRC (transport format) as LAYER_PATH.",
    ),
    (
        "export",
        ("path:LAYER_PATH", "dest:DEST"),
        ("parents", "writable"),
        "export a layer into a folder",
        "Export the layer LAYER_PATH into folder DEST (transport format).",
    ),
    (
        "destroy",
        ("path:LAYER_PATH",),
        (),
        "delete a layer",
        "Delete the layer LAYER_PATH (HCS deletes with elevated rights; hcsim deletes only "
        "folders it made layers).",
    ),
    (
        "init-writable",
        ("path:LAYER_PATH",),
        ("parents",),
        "create a container's writable layer over its parents",
        "Create the writable (scratch) layer LAYER_PATH over the --parent layers (at least one).",
    ),
    (
        "attach",
        ("path:LAYER_PATH",),
        ("parents", "overlay"),
        "attach the layer storage filter to a writable layer",
        "Attach the layer storage filter to the writable layer LAYER_PATH over the --parent "
        "layers (at least one); with --overlay, an overlay filter to the volume at LAYER_PATH.",
    ),
    (
        "detach",
        ("path:LAYER_PATH",),
        ("overlay",),
        "detach the layer storage filter from a writable layer",
        "Detach the layer storage filter from the writable layer LAYER_PATH; with --overlay, "
        "the overlay filter of that type.",
    ),
    (
        "format",
        ("path:VHD",),
        (),
        "format a VHDX as a container's writable layer volume",
        "Format the virtual disk VHD (a VHDX file, opened read-write) as a container's "
        "writable layer volume.",
    ),
    (
        "mount-path",
        ("path:VHD",),
        (),
        "print the volume path of a formatted layer VHDX",
        "Print the volume path (\\\\?\\Volume{...}\\) of the formatted layer disk VHD.",
    ),
    (
        "setup-base",
        ("path:LAYER_PATH",),
        ("vhd", "type"),
        "make a layer a base OS layer, with its disk",
        "Set up LAYER_PATH as a base OS layer for containers (--type Container, the default) "
        "or utility VMs (--type Vm), with the virtual disk --vhd VHD.",
    ),
)


def add_layer_parser(sub: Any) -> None:
    """The ``layer`` command group and its actions."""
    p = sub.add_parser(
        "layer",
        help="container image layers: import, export, destroy, writable layers, filters",
        description="Manage container image layers with computestorage: import a layer "
        "from a folder (transport format), export it, destroy it, create a container's "
        "writable layer over its parents and attach or detach its filter. A parent is "
        "--parent ID=PATH (the layer's GUID and folder), nearest parent first, the base "
        "OS layer last. Relative paths are made absolute. On hcsim a layer is a folder the "
        "emulator has marked as one.",
    )
    group = p.add_subparsers(dest="layer_command", metavar="ACTION", required=True)
    for name, positionals, options, text, description in _ACTIONS:
        s = group.add_parser(name, help=text, description=description)
        for spec in positionals:
            dest, metavar = spec.split(":")
            s.add_argument(dest, metavar=metavar)
        s.add_argument("--json", action="store_true", help="print one JSON document")
        if "parents" in options:
            s.add_argument(
                "--parent",
                action="append",
                default=[],
                required=name in ("init-writable", "attach"),  # (at least one: a usage error)
                type=_parent,
                metavar="ID=PATH",
                help="a parent layer (repeatable, nearest first)",
            )
        if "writable" in options:
            s.add_argument("--writable", action="store_true", help="it is a writable layer")
        if "vhd" in options:
            s.add_argument("--vhd", required=True, metavar="VHD", help="the layer's VHDX file")
        if "type" in options:
            s.add_argument(
                "--type",
                choices=("Container", "Vm"),
                default="Container",
                help="what the base layer serves (default: Container)",
            )
        if "overlay" in options:
            s.add_argument(
                "--overlay",
                choices=_OVERLAYS,
                help="an overlay filter of this type instead (newest Windows only)",
            )


async def cmd_layer(args: Any, ctx: Context) -> int:
    """Run one ``layer`` action and print what was done."""
    from aiohcs import storage

    path = os.path.abspath(args.path)
    parents = list(getattr(args, "parent", []))
    data = storage.layer_data(parents)
    action = args.layer_command
    report: dict[str, Any] = {"Action": action, "Layer": path}
    if action in _DISK_ACTIONS:
        await _disk_action(action, path, args, report)
    elif action == "import":
        report["Source"] = os.path.abspath(args.src)
        await storage.import_layer(path, report["Source"], data)
    elif action == "export":
        report["Destination"] = os.path.abspath(args.dest)
        options = {"IsWritableLayer": True} if args.writable else None
        await storage.export_layer(path, report["Destination"], data, options)
    elif action == "destroy":
        await storage.destroy_layer(path)
    elif action == "init-writable":
        await storage.initialize_writable_layer(path, data)
    elif action == "attach":
        if args.overlay:
            report["Overlay"] = args.overlay
            await storage.attach_overlay_filter(path, data, args.overlay)
        else:
            await storage.attach_layer_storage_filter(path, data)
    else:
        if args.overlay:
            report["Overlay"] = args.overlay
            await storage.detach_overlay_filter(path, args.overlay)
        else:
            await storage.detach_layer_storage_filter(path)
    if parents:
        report["Parents"] = [{"Id": layer_id, "Path": p} for layer_id, p in parents]
    _print(ctx, report)
    return 0


#: The actions that take a virtual disk.
_DISK_ACTIONS: Final = ("format", "mount-path", "setup-base")


async def _disk_action(action: str, path: str, args: Any, report: dict[str, Any]) -> None:
    """``format``, ``mount-path`` or ``setup-base``: open the disk, run the call, close it."""
    from aiohcs import storage, vhd

    if action == "setup-base":
        report["Disk"] = os.path.abspath(args.vhd)
        report["Type"] = args.type
        async with await vhd.open_vhd(report["Disk"], read_only=True) as disk:
            await storage.setup_base_os_layer(path, disk, {"Type": args.type})
        return
    del report["Layer"]
    report["Disk"] = path
    async with await vhd.open_vhd(path, read_only=action == "mount-path") as disk:
        if action == "format":
            await storage.format_writable_layer_vhd(disk)
        else:
            report["MountPath"] = await storage.get_layer_vhd_mount_path(disk)


_DONE = {
    "import": "imported",
    "export": "exported",
    "destroy": "destroyed",
    "init-writable": "writable layer created",
    "attach": "filter attached",
    "detach": "filter detached",
    "format": "formatted as a writable layer volume",
    "setup-base": "set up as a base OS layer",
}


def _print(ctx: Context, report: dict[str, Any]) -> None:
    if ctx.out.json:
        ctx.out.document(report)
        return
    if report["Action"] == "mount-path":
        ctx.out.line(report["MountPath"])
        return
    if report["Action"] == "format":
        ctx.out.line(f"{report['Disk']}  {_DONE['format']}")
        return
    what = _DONE[report["Action"]]
    if report["Action"] == "setup-base":
        what += f" ({report['Type']}, disk {report['Disk']})"
    if "Overlay" in report:
        what = f"{report['Overlay']} overlay {what.removeprefix('filter ')}"
    where = report.get("Destination") or report.get("Source")
    tail = f"  ({'to' if 'Destination' in report else 'from'} {where})" if where else ""
    ctx.out.line(f"{report['Layer']}  {what}{tail}")
