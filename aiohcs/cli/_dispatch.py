"""From a parsed command to what runs it: the command's function and its context."""

from __future__ import annotations

import argparse
from typing import Any

from aiohcs.cli._output import Output
from aiohcs.cli._runtime import Context

__all__ = ["command_for", "context_for"]


def command_for(name: str) -> Any:
    """The async implementation of command ``name``."""
    if name == "layer":
        from aiohcs.cli._layer import cmd_layer

        return cmd_layer
    if name == "vhd":
        from aiohcs.cli._vhd import cmd_vhd

        return cmd_vhd
    if name in ("network", "endpoint", "namespace"):
        from aiohcs.cli._network import network_commands

        return network_commands()[name]
    from aiohcs.cli import _commands as c

    table = {
        "list": c.cmd_list,
        "inspect": c.cmd_inspect,
        "create": c.cmd_create,
        "start": c.cmd_lifecycle,
        "pause": c.cmd_lifecycle,
        "resume": c.cmd_lifecycle,
        "shutdown": c.cmd_lifecycle,
        "kill": c.cmd_lifecycle,
        "save": c.cmd_save,
        "restore": c.cmd_restore,
        "wait": c.cmd_wait,
        "exec": c.cmd_exec,
        "events": c.cmd_events,
        "service": c.cmd_service,
        "sim": c.cmd_sim,
        "sleep": c.cmd_sleep,
    }
    from aiohcs.cli._access import access_commands

    table.update(access_commands())
    return table[name]


def context_for(args: argparse.Namespace, out: Output, namespace: str | None) -> Context:
    """The context of one parsed command."""
    ns = getattr(args, "namespace", None) or namespace
    return Context(out=out.with_json(bool(getattr(args, "json", False))), namespace=ns)
