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
from typing import Any

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


def add_layer_parser(sub: Any) -> None:
    """The ``layer`` command group and its actions."""
    p = sub.add_parser(
        "layer",
        help="container image layers: import, export, destroy, writable layers, filters",
        description="Manage container image layers with computestorage: import a layer "
        "from a folder (transport format), export it, destroy it, create a container's "
        "writable layer over its parents and attach or detach its filter. A parent is "
        "--parent ID=PATH (the layer's GUID and folder), nearest parent first, the base "
        "OS layer last. On hcsim a layer is a folder the emulator has marked as one.",
    )
    group = p.add_subparsers(dest="layer_command", metavar="ACTION", required=True)
    json_opt = argparse.ArgumentParser(add_help=False)
    json_opt.add_argument("--json", action="store_true", help="print one JSON document")
    parents = argparse.ArgumentParser(add_help=False)
    parents.add_argument(
        "--parent",
        action="append",
        default=[],
        type=_parent,
        metavar="ID=PATH",
        help="a parent layer (repeatable, nearest first)",
    )

    s = group.add_parser(
        "import",
        parents=[json_opt, parents],
        help="import a layer from a folder",
        description="Import the layer in folder SRC (transport format) as LAYER_PATH.",
    )
    s.add_argument("src", metavar="SRC")
    s.add_argument("path", metavar="LAYER_PATH")

    s = group.add_parser(
        "export",
        parents=[json_opt, parents],
        help="export a layer into a folder",
        description="Export the layer LAYER_PATH into folder DEST (transport format).",
    )
    s.add_argument("path", metavar="LAYER_PATH")
    s.add_argument("dest", metavar="DEST")
    s.add_argument("--writable", action="store_true", help="it is a writable layer")

    s = group.add_parser(
        "destroy",
        parents=[json_opt],
        help="delete a layer",
        description="Delete the layer LAYER_PATH (HCS deletes with elevated rights; hcsim "
        "deletes only folders it made layers).",
    )
    s.add_argument("path", metavar="LAYER_PATH")

    s = group.add_parser(
        "init-writable",
        parents=[json_opt, parents],
        help="create a container's writable layer over its parents",
        description="Create the writable (scratch) layer LAYER_PATH over the --parent "
        "layers (at least one).",
    )
    s.add_argument("path", metavar="LAYER_PATH")

    overlay_help = "an overlay filter of this type instead (%(choices)s; newest Windows only)"
    s = group.add_parser(
        "attach",
        parents=[json_opt, parents],
        help="attach the layer storage filter to a writable layer",
        description="Attach the layer storage filter to the writable layer LAYER_PATH over "
        "the --parent layers; with --overlay, an overlay filter to the volume at LAYER_PATH.",
    )
    s.add_argument("path", metavar="LAYER_PATH")
    s.add_argument("--overlay", choices=_OVERLAYS, help=overlay_help)

    s = group.add_parser(
        "detach",
        parents=[json_opt],
        help="detach the layer storage filter from a writable layer",
        description="Detach the layer storage filter from the writable layer LAYER_PATH; "
        "with --overlay, the overlay filter of that type.",
    )
    s.add_argument("path", metavar="LAYER_PATH")
    s.add_argument("--overlay", choices=_OVERLAYS, help=overlay_help)


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
