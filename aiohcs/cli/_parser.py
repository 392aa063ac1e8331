"""The argument parser of the ``aiohcs`` tool: its commands, options and value types.

Used for the command line and for each line of an ``aiohcs script`` file.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TypeAlias

from aiohcs.cli._access import add_access_parsers
from aiohcs.cli._argtypes import positive_int as _positive_int
from aiohcs.cli._argtypes import positive_seconds as _positive_seconds
from aiohcs.cli._argtypes import seconds as _seconds
from aiohcs.cli._hcsim import add_hcsim_parser
from aiohcs.cli._layer import add_layer_parser
from aiohcs.cli._network import add_network_parsers, network_create_problem
from aiohcs.cli._vhd import add_vhd_parser

__all__ = ["build_parser", "parse_command"]

_Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

_EMULATOR_NOTE = (
    "Off Windows, aiohcs runs on hcsim, an emulator. Without an hcsim service it runs inside "
    "this process: each invocation starts with no compute systems, so a single command sees "
    "only what it creates itself. 'aiohcs hcsim serve' runs a shared emulator that every "
    "later command uses (see 'aiohcs hcsim -h'); or run several commands in one process with "
    "'aiohcs script FILE' (see 'aiohcs script -h')."
)


def _common(json_help: str = "print one JSON document instead of text") -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--json", action="store_true", help=json_help)
    parent.add_argument(
        "--namespace",
        metavar="NS",
        default=argparse.SUPPRESS,
        help="HCS namespace of the systems (default: the default namespace)",
    )
    return parent


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the tool (also used for each line of a script)."""
    parser = argparse.ArgumentParser(
        prog="aiohcs",
        description=(
            "Drive Windows compute systems (Hyper-V VMs and containers) through the Host "
            "Compute System API. " + _EMULATOR_NOTE
        ),
        epilog="Exit codes: 0 success, 1 error (one line on stderr), 2 usage, 130 Ctrl-C; "
        "'exec' exits with the process's exit code.",
    )
    parser.add_argument(
        "--namespace", metavar="NS", help="HCS namespace (default: the default namespace)"
    )
    parser.add_argument(
        "--backend",
        choices=("asyncio", "trio"),
        default="asyncio",
        help="event loop to run on (default: asyncio)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = _common()
    _add_inventory(sub, common)
    _add_lifecycle(sub, common)
    _add_exec(sub)
    _add_events(sub)
    _add_tools(sub, common)
    add_hcsim_parser(sub)
    add_access_parsers(sub)
    add_layer_parser(sub)
    add_vhd_parser(sub)
    add_network_parsers(sub)
    return parser


def _add_inventory(sub: _Subcommands, common: argparse.ArgumentParser) -> None:
    """``list`` and ``inspect``."""
    p = sub.add_parser(
        "list",
        parents=[common],
        help="list compute systems",
        description="List compute systems: id, type, state, owner, OS, runtime id.",
    )
    p.add_argument("--id", action="append", default=[], help="only this id (repeatable)")
    p.add_argument(
        "--type",
        action="append",
        default=[],
        help="only this SystemType, e.g. Container or VirtualMachine (repeatable)",
    )
    p.add_argument("--owner", action="append", default=[], help="only this owner (repeatable)")

    p = sub.add_parser(
        "inspect",
        parents=[common],
        help="print a system's properties",
        description="Print the Properties of a compute system: one 'Name: value' line per "
        "member (nested documents as JSON), or the whole document with --json.",
    )
    p.add_argument("id", metavar="ID")
    p.add_argument(
        "--property",
        action="append",
        default=[],
        metavar="TYPE",
        help="add a property type: Memory, Statistics, ProcessList, ... (repeatable)",
    )


def _add_lifecycle(sub: _Subcommands, common: argparse.ArgumentParser) -> None:
    """``create``, the state changes, ``save``, ``restore`` and ``wait``."""
    p = sub.add_parser(
        "create",
        parents=[common],
        help="create a system from a JSON configuration",
        description="Create compute system ID from CONFIG (a ComputeSystem JSON file, - for "
        "stdin) and print its state: Created, or Running with --start. On Windows the system "
        "outlives the command, and so it does on hcsim with a service ('aiohcs hcsim "
        "serve'). On hcsim without one it does not: the emulator lives in this process, so "
        "the system ends with the command; use 'aiohcs script' to work with it in later "
        "commands.",
    )
    p.add_argument("id", metavar="ID")
    p.add_argument("config", metavar="CONFIG")
    p.add_argument("--start", action="store_true", help="start it once created")

    for name, text in (
        ("start", "start a created system"),
        ("pause", "pause a running system"),
        ("resume", "resume a paused system"),
        ("shutdown", "ask the guest to shut down (needs a guest agent)"),
        ("kill", "terminate a system at once"),
    ):
        p = sub.add_parser(name, parents=[common], help=text, description=text.capitalize() + ".")
        p.add_argument("id", metavar="ID")
        if name in ("shutdown", "kill"):
            p.add_argument("--wait", action="store_true", help="wait for the exit")
            p.add_argument(
                "--timeout",
                type=_seconds,
                default=None,
                metavar="S",
                help="seconds to wait (with --wait)",
            )

    p = sub.add_parser(
        "save",
        parents=[common],
        help="save a paused system's state to a file",
        description="Save the state of ID to PATH. HCS saves only paused systems "
        "(use --pause). The system stays paused; 'kill' it, then 'restore' it later.",
    )
    p.add_argument("id", metavar="ID")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--pause", action="store_true", help="pause the system first")

    p = sub.add_parser(
        "restore",
        parents=[common],
        help="create a VM from a saved state and start it",
        description="Create VM ID from CONFIG with its state restored from PATH (written by "
        "'save'), and start it.",
    )
    p.add_argument("id", metavar="ID")
    p.add_argument("config", metavar="CONFIG")
    p.add_argument("path", metavar="PATH")

    p = sub.add_parser(
        "wait",
        parents=[common],
        help="wait until a system exits",
        description="Wait until ID exits and print its exit status. In a script, 'wait' "
        "without ID waits for the background ('&') commands.",
    )
    p.add_argument("id", metavar="ID", nargs="?")
    p.add_argument("--timeout", type=_seconds, default=None, metavar="S", help="give up after S")


def _add_exec(sub: _Subcommands) -> None:
    """``exec``: run a process in a system."""
    p = sub.add_parser(
        "exec",
        parents=[_common("(accepted for symmetry; exec prints the process's output)")],
        help="run a process in a system",
        description="Run CMD in ID with its output streamed to this terminal, and exit with "
        "its exit code. -i attaches stdin; -t gives it a console (pty) sized and resized "
        "like this terminal. Ctrl-C interrupts the process; a second Ctrl-C kills it.",
    )
    p.add_argument("id", metavar="ID")
    p.add_argument("-i", "--interactive", action="store_true", help="attach standard input")
    p.add_argument("-t", "--tty", action="store_true", help="give the process a console")
    p.add_argument("--cwd", help="working directory in the guest")
    p.add_argument(
        "-e", "--env", action="append", default=[], metavar="NAME=VALUE", help="environment"
    )
    p.add_argument("--user", help="user to run as (guest-specific)")
    p.add_argument(
        "--drain-timeout",
        type=_seconds,
        default=None,
        metavar="S",
        help="after the exit, wait at most S seconds for output still held open by a "
        "background child of the command (default: 2)",
    )
    p.add_argument("cmd", nargs="*", metavar="CMD", help="the command; put it after --")


def _add_events(sub: _Subcommands) -> None:
    """``events``: print the events of one or every system."""
    p = sub.add_parser(
        "events",
        parents=[_common("print JSON lines, one per event")],
        help="print events of one or every system",
        description="Print the next event of ID (or of any system). With --follow keep "
        "printing: for ID until it exits, for every system until Ctrl-C or --timeout "
        "(new systems are picked up every --interval seconds; one that comes and goes "
        "between two looks is not seen).",
    )
    p.add_argument("id", metavar="ID", nargs="?")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing events")
    p.add_argument("--timeout", type=_seconds, default=None, metavar="S", help="stop after S")
    p.add_argument(
        "-n", "--count", type=_positive_int, default=None, metavar="N", help="stop after N events"
    )
    p.add_argument(
        "--interval",
        type=_positive_seconds,
        default=0.5,
        metavar="S",
        help="poll for new systems every S seconds (default: 0.5)",
    )


def _add_tools(sub: _Subcommands, common: argparse.ArgumentParser) -> None:
    """``service``, ``sim``, ``script``, ``sleep`` and ``demo``."""
    p = sub.add_parser(
        "service",
        parents=[common],
        help="print the HCS service's properties",
        description="Print the ServiceProperties document (Basic unless --property is given).",
    )
    p.add_argument("--property", action="append", default=[], metavar="TYPE")

    p = sub.add_parser(
        "sim",
        parents=[common],
        help="emulator only: inject a fault (crash, guest power-off, delay, failure, ...)",
        description="hcsim fault injection, for scripts and tests: 'crash ID' kills the "
        "system's worker process (UnexpectedExit), 'guest-shutdown ID' powers the guest off, "
        "'disconnect' drops the service connection, 'delay FUNCTION MS' makes the operations "
        "of an HCS function (e.g. HcsSaveComputeSystem) complete MS later (0 clears), "
        "'fail FUNCTION HRESULT [COUNT]' makes its next COUNT calls fail. "
        "Not available on Windows.",
    )
    p.add_argument("action", choices=("crash", "guest-shutdown", "disconnect", "delay", "fail"))
    p.add_argument("id", metavar="ID|FUNCTION", nargs="?")
    p.add_argument("values", metavar="VALUE", nargs="*", help="MS for delay; HRESULT [COUNT]")

    p = sub.add_parser(
        "script",
        help="run commands from a file in one process",
        description="Run the commands in FILE (- for stdin), one per line, in this one "
        "process, so that on hcsim later lines see the systems earlier lines created. "
        "Lines are split like a shell's (no expansion); '#' starts a comment. A line ending "
        "in '&' runs in the background (the next line starts once it is attached, e.g. "
        "subscribed to events); 'wait' waits for the background commands; 'sleep SECONDS' "
        "pauses. The script stops at the first failing line and exits with its code; "
        "background commands still running at the end are stopped.",
    )
    p.add_argument("file", metavar="FILE")

    p = sub.add_parser("sleep", help="sleep (for scripts)", description="Sleep SECONDS.")
    p.add_argument("seconds", type=_seconds)

    p = sub.add_parser(
        "demo",
        help="create a container and a VM and walk them through their life cycle",
        description=(
            "Create a container and a VM, start, pause, resume, save, terminate and "
            "restore them, printing every state change and event, and run a process in "
            "the container with its output streamed."
        ),
    )
    p.add_argument(
        "--backend",
        dest="demo_backend",
        choices=("asyncio", "trio"),
        default=None,
        help="event loop to run on (default: asyncio)",
    )
    p.add_argument(
        "--save-dir",
        metavar="DIR",
        default=None,
        help="write the saved state files to DIR and keep them (default: a temporary "
        "directory, removed when the demo ends)",
    )


def parse_command(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """Parse ``argv``; everything after the first ``--`` is the command of ``exec``."""
    words = list(argv)
    tail: list[str] | None = None
    if "--" in words:
        cut = words.index("--")
        words, tail = words[:cut], words[cut + 1 :]
    args = parser.parse_args(words)
    if tail is not None:
        if args.command != "exec":
            parser.error("'--' is only used by exec (aiohcs exec ID -- CMD ...)")
        if args.cmd:
            parser.error("give the command of exec after '--' only")
        args.cmd = tail
    if args.command == "exec" and not args.cmd:
        parser.error("exec needs a command after the system id (aiohcs exec ID -- CMD ...)")
    if args.command == "network" and getattr(args, "network_command", None) == "create":
        problem = network_create_problem(args)
        if problem is not None:
            parser.error(problem)
    return args
