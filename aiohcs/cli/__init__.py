"""The ``aiohcs`` command line tool (also ``python -m aiohcs``).

On Linux and macOS the tool runs on hcsim, the emulator compiled into aiohcs: compute
systems live inside the tool's own process, so a command sees only what that same process
created. On Windows it talks to the real Host Compute Service.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aiohcs",
        description=(
            "Drive Windows compute systems (Hyper-V VMs and containers) through the Host "
            "Compute System API. Off Windows, commands run on the embedded emulator "
            "(hcsim) and see only the systems created in the same process."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="create a container and a VM and walk them through their life cycle",
        description=(
            "Create a container and a VM, start, pause, resume, save, terminate and "
            "restore them, printing every state change and event."
        ),
    )
    demo.add_argument(
        "--backend",
        choices=("asyncio", "trio"),
        default="asyncio",
        help="event loop to run on (default: asyncio)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the tool with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from aiohcs.cli.demo import run_demo

        return run_demo(backend=args.backend, out=sys.stdout)
    _parser().print_help()
    return 2
