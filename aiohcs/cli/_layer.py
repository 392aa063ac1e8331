"""``aiohcs layer ...``: container image layers (computestorage) from the command line.

``import``, ``export``, ``destroy``, ``init-writable``, ``attach`` and ``detach`` call
:mod:`aiohcs.storage`. Paths may be relative: they are made absolute here, since HCS
resolves paths in the compute service, not in the tool's working directory. A parent
layer is ``ID=PATH`` (its GUID and its folder), nearest parent first.
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Any, Final

from aiohcs.cli._runtime import CliError, Context

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
                type=_parent,
                metavar="ID=PATH",
                help="a parent layer (repeatable, nearest first)",
            )
        if "writable" in options:
            s.add_argument("--writable", action="store_true", help="it is a writable layer")
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
    if action in ("init-writable", "attach") and not parents:
        raise CliError(f"{action} needs at least one --parent ID=PATH")
    report: dict[str, Any] = {"Action": action, "Layer": path}
    if action == "import":
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


_DONE = {
    "import": "imported",
    "export": "exported",
    "destroy": "destroyed",
    "init-writable": "writable layer created",
    "attach": "filter attached",
    "detach": "filter detached",
}


def _print(ctx: Context, report: dict[str, Any]) -> None:
    if ctx.out.json:
        ctx.out.document(report)
        return
    what = _DONE[report["Action"]]
    if "Overlay" in report:
        what = f"{report['Overlay']} overlay {what.removeprefix('filter ')}"
    where = report.get("Destination") or report.get("Source")
    tail = f"  ({'to' if 'Destination' in report else 'from'} {where})" if where else ""
    ctx.out.line(f"{report['Layer']}  {what}{tail}")
