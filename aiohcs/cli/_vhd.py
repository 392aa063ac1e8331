"""``aiohcs vhd ...``: virtual hard disks (virtdisk) from the command line.

``create`` makes a VHDX file and ``info`` prints its virtual size and, while it is
attached, its device path; both call :mod:`aiohcs.vhd`. Paths may be relative: they are
made absolute here. Sizes take a binary suffix (``K``, ``M``, ``G``, ``T``: 1024-based).
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from typing import Any, Final

from aiohcs.cli._runtime import CliError, Context

__all__ = ["add_vhd_parser", "cmd_vhd", "parse_size"]

_SIZE: Final = re.compile(r"(\d+)\s*([KMGT]?)(?:I?B)?", re.IGNORECASE)
_UNITS: Final = {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}


def parse_size(text: str) -> int:
    """An argparse type: a size in bytes, ``10G``, ``512M``, ``3145728`` (1024-based units)."""
    match = _SIZE.fullmatch(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(
            f"expected a size such as 10G, 512M or a number of bytes, not {text!r}"
        )
    return int(match.group(1)) << _UNITS[match.group(2).upper()]


#: aiohcs.vhd's MIN_SIZE, MAX_SIZE, MIN_BLOCK_SIZE, MAX_BLOCK_SIZE (not imported: building
#: the parser loads no binding), so that a size out of range is a usage error (exit 2).
_SIZES: Final = (3 << 20, 64 << 40)
_BLOCKS: Final = (1 << 20, 256 << 20)


def _in_range(
    limits: tuple[int, int], rule: str, *, power_of_two: bool = False
) -> Callable[[str], int]:
    """An argparse type: :func:`parse_size`, then ``limits`` (both included) and ``rule``."""

    def parse(text: str) -> int:
        size = parse_size(text)
        low, high = limits
        fits = size & (size - 1) == 0 if power_of_two else size % 512 == 0
        if not (low <= size <= high and fits):
            raise argparse.ArgumentTypeError(f"must be {rule}, not {text!r} ({size} bytes)")
        return size

    return parse


def _human(size: int) -> str:
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift and size % (1 << shift) == 0:
            return f"{size >> shift} {unit}"
    return f"{size} bytes"


def add_vhd_parser(sub: Any) -> None:
    """The ``vhd`` command group and its actions."""
    p = sub.add_parser(
        "vhd",
        help="virtual hard disks: create a VHDX file, show a disk's size",
        description="Create and inspect virtual hard disks (VHDX files) with virtdisk. "
        "Relative paths are made absolute. On hcsim the files are real VHDX files.",
    )
    group = p.add_subparsers(dest="vhd_command", metavar="ACTION", required=True)
    c = group.add_parser(
        "create",
        help="create a VHDX file",
        description="Create the VHDX file PATH (it must not exist): dynamic (it grows as it "
        "is written) or, with --fixed, fully allocated.",
    )
    c.add_argument("path", metavar="PATH")
    c.add_argument(
        "--size",
        required=True,
        type=_in_range(_SIZES, "a multiple of 512 from 3M to 64T"),
        help="virtual size (10G, 512M, bytes), from 3M to 64T",
    )
    c.add_argument("--fixed", action="store_true", help="allocate the whole disk now")
    c.add_argument(
        "--block-size",
        type=_in_range(_BLOCKS, "a power of two from 1M to 256M", power_of_two=True),
        default=None,
        help="block size, a power of two from 1M to 256M (default: Windows' 32M)",
    )
    c.add_argument(
        "--sector-size", type=int, choices=(512, 4096), default=512, help="logical sector size"
    )
    c.add_argument("--json", action="store_true", help="print one JSON document")
    i = group.add_parser(
        "info",
        help="show a disk's virtual size (and device path while attached)",
        description="Open the VHDX file PATH read-only and print its virtual size, its "
        "file size and, while it is attached, its device path (\\\\.\\PhysicalDriveN).",
    )
    i.add_argument("path", metavar="PATH")
    i.add_argument("--json", action="store_true", help="print one JSON document")


async def cmd_vhd(args: Any, ctx: Context) -> int:
    """Run one ``vhd`` action and print what was done or found."""
    from aiohcs import vhd
    from aiohcs.errors import HcsError, InvalidArgumentError

    path = os.path.abspath(args.path)
    if args.vhd_command == "create":
        try:
            await vhd.create_vhdx(
                path,
                args.size,
                fixed=args.fixed,
                block_size=args.block_size,
                sector_size=args.sector_size,
            )
        except InvalidArgumentError as exc:
            raise CliError(str(exc)) from None
        kind = "fixed" if args.fixed else "dynamic"
        report: dict[str, Any] = {
            "Action": "create",
            "Path": path,
            "Type": kind,
            "VirtualSize": args.size,
            "BlockSize": args.block_size or vhd.DEFAULT_BLOCK_SIZE,
            "SectorSize": args.sector_size,
        }
        if ctx.out.json:
            ctx.out.document(report)
        else:
            ctx.out.line(f"{path}  created ({kind}, {_human(args.size)})")
        return 0
    async with await vhd.open_vhd(path, read_only=True) as disk:
        size = await disk.virtual_size()
        try:
            device: str | None = await disk.physical_path()
        except HcsError:  # not attached
            device = None
    info = {
        "Path": path,
        "VirtualSize": size,
        "FileSize": os.stat(path).st_size,
        "Attached": device is not None,
        "PhysicalPath": device,
    }
    if ctx.out.json:
        ctx.out.document(info)
    else:
        ctx.out.line(f"Path: {path}")
        ctx.out.line(f"VirtualSize: {size} ({_human(size)})")
        ctx.out.line(f"FileSize: {info['FileSize']}")
        ctx.out.line(f"Attached: {device or 'no'}")
    return 0
