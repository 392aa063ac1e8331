"""The ``aiohcs`` command line tool (also ``python -m aiohcs``).

On Windows the tool talks to the Host Compute Service and sees every compute system the
caller may access. On Linux and macOS it runs on hcsim, the emulator compiled into aiohcs:
with a service running (``aiohcs hcsim serve``, found on ``$AIOHCS_HCSIM`` or the default
socket) every invocation is its client and sees the same emulated host; without one,
compute systems live inside the tool's own process, so each invocation starts with an
empty emulator (``aiohcs script FILE`` runs several commands in one process there).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from aiohcs.cli._dispatch import command_for, context_for
from aiohcs.cli._output import Output
from aiohcs.cli._parser import build_parser, parse_command
from aiohcs.cli._runtime import EXIT_INTERRUPTED, leaves, run
from aiohcs.cli._service import not_found_hint, use_service
from aiohcs.errors import HcsimServiceError

__all__ = [
    "EXIT_INTERRUPTED",
    "build_parser",
    "command_for",
    "context_for",
    "exit_status",
    "main",
    "parse_command",
]


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the tool with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    out = Output(stdout or sys.stdout, stderr or sys.stderr)
    try:
        return exit_status(_main(argv, out))
    except BaseException as exc:
        if not all(isinstance(leaf, BrokenPipeError) for leaf in leaves(exc)):
            raise
        # The reader of our output went away (``aiohcs list | head -1``): stop quietly.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, out.out.fileno())
        return 1


#: Windows' exit codes of a process ended by Ctrl-C (STATUS_CONTROL_C_EXIT) and of one
#: terminated (ERROR_PROCESS_ABORTED, as HCS reports for a Windows guest).
_CTRL_C_EXIT, _ABORTED = 0xC000013A, 1067


def exit_status(code: int) -> int:
    """``code`` (a guest process's exit code, or the tool's) as this host's exit status.

    A Windows exit code is 32 bits, an unsigned DWORD: ``sys.exit`` takes a C long, 32 bits
    signed on Windows, so codes from 2**31 up are passed in that form (``sys.exit`` would
    otherwise exit with -1). A POSIX exit status is 8 bits: a Windows guest's Ctrl-C and
    terminate codes become what a shell reports for SIGINT and SIGKILL (130, 137), and any
    other code out of 0..255 becomes 255 (never 0: a failure must not read as success).
    """
    windows = sys.platform == "win32"  # (read at run time: the tests try both)
    if windows:
        code &= 0xFFFFFFFF
        return code - (1 << 32) if code >= 1 << 31 else code
    if 0 <= code <= 255:
        return code
    return {_CTRL_C_EXIT: EXIT_INTERRUPTED, _ABORTED: 137}.get(code & 0xFFFFFFFF, 255)


def _main(argv: Sequence[str] | None, out: Output) -> int:
    parser = build_parser()
    try:
        args = parse_command(parser, sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    if args.command is None:
        parser.print_help(out.out)
        return 2
    if args.command == "hcsim":
        from aiohcs.cli._hcsim import run_hcsim

        return run_hcsim(args, out)
    if args.command == "demo":
        from aiohcs.cli.demo import run_demo

        return run_demo(
            backend=args.demo_backend or args.backend, out=out.out, save_dir=args.save_dir
        )
    try:
        use_service(out.note)
    except HcsimServiceError as exc:
        out.error(str(exc))
        return 1
    if args.command == "script":
        from aiohcs.cli._script import run_script

        return run_script(args.file, out, namespace=args.namespace, backend=args.backend)
    if args.command == "wait" and args.id is None:
        out.error("wait needs a system id (a bare 'wait' is for scripts)")
        return 2
    ctx = context_for(args, out, args.namespace)
    ctx.not_found_hint = not_found_hint()
    return run(command_for(args.command), args, ctx, backend=args.backend)
