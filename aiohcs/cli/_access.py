"""``aiohcs grant``, ``aiohcs revoke`` and ``aiohcs state-file``: a VM's access to host files.

The commands of :mod:`aiohcs.access`. Paths are taken relative to the working directory
and passed on absolute (HCS resolves them in the compute service). ``--json`` prints one
JSON document instead of a line of text. :mod:`aiohcs.access` (and with it the binding) is
imported only when a command runs, as the other commands do, so that building the parser
connects to nothing. On hcsim without a service a grant lives in the emulator inside the
command and ends with it, as ``create``'s system does: the command says so on stderr.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from aiohcs.cli._runtime import Context

__all__ = ["access_commands", "add_access_parsers"]


def add_access_parsers(sub: Any) -> None:
    """The ``grant``, ``revoke`` and ``state-file`` commands."""
    for verb, action, effect in (
        ("grant", "grant", "may then open it (a disk, ISO, state or saved-state file)"),
        ("revoke", "take back", "needs a new grant for its next start"),
    ):
        p = sub.add_parser(
            verb,
            usage=f"aiohcs {verb} [-h] [--json] (VM_ID | --group) PATH",
            help=f"{action} a VM (or every VM) access to a file",
            description=f"{action.capitalize()} the VM VM_ID (its compute system id) access "
            f"to the file PATH; with --group, every VM. The VM {effect}. The file must exist.",
        )
        # VM_ID or --group, then PATH: argparse checks the shape (a usage error, exit 2).
        who = p.add_mutually_exclusive_group(required=True)
        who.add_argument("--group", action="store_true", help="every VM instead of VM_ID")
        who.add_argument("vm_id", nargs="?", metavar="VM_ID", help="the VM's compute system id")
        p.add_argument("path", metavar="PATH", help="the file")
        p.add_argument("--json", action="store_true", help="print one JSON document")

    p = sub.add_parser(
        "state-file",
        help="create an empty guest or runtime state file, or read a saved state's CPU needs",
        description="'create --guest PATH' creates an empty guest state file (.vmgs, for "
        "VirtualMachine.GuestState.GuestStateFilePath), 'create --runtime PATH' an empty "
        "runtime state file (.vmrs, for RuntimeStateFilePath); an existing file is an error. "
        "'processors PATH' prints what the saved state PATH requires of a host's processors. "
        "Grant the VM access to the file before it starts (aiohcs grant).",
    )
    actions = p.add_subparsers(dest="state_action", metavar="ACTION", required=True)
    c = actions.add_parser("create", help="create an empty state file")
    kind = c.add_mutually_exclusive_group(required=True)
    kind.add_argument("--guest", action="store_true", help="a guest state file (.vmgs)")
    kind.add_argument("--runtime", action="store_true", help="a runtime state file (.vmrs)")
    c.add_argument("path", metavar="PATH")
    c.add_argument("--json", action="store_true", help="print one JSON document")
    c = actions.add_parser("processors", help="print a saved state's processor requirements")
    c.add_argument("path", metavar="PATH")
    c.add_argument("--json", action="store_true", help="print one JSON document")


def access_commands() -> dict[str, Callable[[Any, Context], Coroutine[Any, Any, int]]]:
    """The commands of this module, by name, for the dispatch table."""
    return {"grant": cmd_access, "revoke": cmd_access, "state-file": cmd_state_file}


def _absolute(path: str) -> str:
    return str(Path(path).absolute())


async def cmd_access(args: Any, ctx: Context) -> int:
    """``grant`` / ``revoke``: (VM_ID PATH) or (--group PATH)."""
    from aiohcs import access

    grant = args.command == "grant"
    path = _absolute(args.path)
    vm_id: str | None = None if args.group else args.vm_id
    if vm_id is None:
        await (access.grant_vm_group_access if grant else access.revoke_vm_group_access)(path)
    else:
        await (access.grant_vm_access if grant else access.revoke_vm_access)(vm_id, path)
    if ctx.out.json:
        ctx.out.document({"Access": "Granted" if grant else "Revoked", "VmId": vm_id, "Path": path})
    else:
        who = "every VM" if vm_id is None else vm_id
        ctx.out.line(f"{'granted' if grant else 'revoked'}: {who} -> {path}")
    from aiohcs.cli._commands import note_own_emulator

    note_own_emulator(ctx, f"this {args.command}")
    return 0


async def cmd_state_file(args: Any, ctx: Context) -> int:
    """``state-file create --guest|--runtime PATH`` and ``state-file processors PATH``."""
    from aiohcs import access

    path = _absolute(args.path)
    if args.state_action == "processors":
        compat = await access.processor_compatibility_from_saved_state(path)
        ctx.out.properties(dict(compat.document))
        return 0
    kind = "guest" if args.guest else "runtime"
    create = (
        access.create_empty_guest_state_file
        if args.guest
        else access.create_empty_runtime_state_file
    )
    await create(path)
    if ctx.out.json:
        ctx.out.document({"Created": path, "Kind": kind})
    else:
        ctx.out.line(f"created {kind} state file {path}")
    return 0
