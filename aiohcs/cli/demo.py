"""``aiohcs demo``: one tour of the life cycle of a container and a VM.

The saved state files go to a temporary directory that is removed when the demo ends (the
lines that name them say so), or to ``--save-dir DIR``, where they are kept.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

import anyio

from aiohcs.access import grant_vm_access
from aiohcs.system import ComputeSystem

_SCHEMA = {"Major": 2, "Minor": 1}

CONTAINER_CONFIG: dict[str, Any] = {
    "SchemaVersion": _SCHEMA,
    "Owner": "aiohcs-demo",
    "Container": {"Storage": {"Layers": []}},
}

VM_CONFIG: dict[str, Any] = {
    "SchemaVersion": _SCHEMA,
    "Owner": "aiohcs-demo",
    "VirtualMachine": {
        "Chipset": {"Uefi": {}},
        "ComputeTopology": {"Memory": {"SizeInMB": 1024}, "Processor": {"Count": 2}},
        "Devices": {},
    },
}


class _Printer:
    """Prints demo lines with the system they concern."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def __call__(self, who: str, what: str) -> None:
        print(f"{who:<22} {what}", file=self._out, flush=True)


async def _state(system: ComputeSystem) -> str:
    props = await system.properties()
    state = props.state
    return str(state)


async def _watch(system: ComputeSystem, say: _Printer) -> None:
    async for event in system.events():
        say(system.id, f"event  {event!r}")


def _demo_command() -> list[str]:
    """A command that exists in the guest.

    On Windows a container's (hcsim's DLLs run host processes, which have cmd.exe too); on
    POSIX, where hcsim runs host processes, the host's shell.
    """
    if sys.platform == "win32":
        return ["cmd.exe", "/c", "echo hello from inside it & exit /b 3"]
    else:
        return ["sh", "-c", "echo hello from inside $0; echo a line on stderr >&2; exit 3", "it"]


async def _run_in(system: ComputeSystem, say: _Printer) -> None:
    """Run a process in ``system``, streaming its output line by line."""
    command = _demo_command()
    say(system.id, f"exec   {command!r}")

    def write(stream: str, chunk: bytes) -> None:
        for line in chunk.decode(errors="replace").splitlines():
            say(system.id, f"{stream}  | {line}")

    code = await system.stream_process(command, write)
    say(system.id, f"exec   -> exit code {code}")


def _exit(status: Any) -> str:
    from aiohcs.cli._commands import exit_summary

    return exit_summary(status.to_dict())


async def _tour(
    system: ComputeSystem,
    say: _Printer,
    save_dir: Path,
    *,
    temporary: bool,
    run_process: bool = False,
) -> Path:
    """Start, pause, resume, pause, save and terminate ``system``; return the state file."""
    say(system.id, f"state  {await _state(system)}")
    for step in ("start", "pause", "resume", "pause"):
        await getattr(system, step)()
        say(system.id, f"{step:<6} -> {await _state(system)}")
        if step == "start" and run_process:
            await _run_in(system, say)
    state_file = (save_dir / f"{system.id}.vmrs").absolute()
    await system.save(str(state_file))
    kept = "temporary: removed when the demo ends" if temporary else "kept"
    say(system.id, f"save   -> {state_file} ({state_file.stat().st_size} bytes, {kept})")
    await system.terminate()
    status = await system.wait()
    say(system.id, f"terminate -> {_exit(status)}")
    return state_file


async def demo(out: TextIO, save_dir: Path | None = None) -> None:
    """Run the tour on a container and a VM, then restore the VM from its saved state.

    The state files are written to ``save_dir`` (kept), or to a temporary directory that
    is removed at the end.
    """
    say = _Printer(out)
    with contextlib.ExitStack() as stack:
        temporary = save_dir is None
        if save_dir is None:
            save_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="aiohcs-demo-")))
        else:
            save_dir.mkdir(parents=True, exist_ok=True)
        async with anyio.create_task_group() as tg:
            container = await ComputeSystem.create("aiohcs-demo-container", CONTAINER_CONFIG)
            vm = await ComputeSystem.create("aiohcs-demo-vm", VM_CONFIG)
            async with container, vm:
                tg.start_soon(_watch, container, say)
                tg.start_soon(_watch, vm, say)
                await _tour(container, say, save_dir, temporary=temporary, run_process=True)
                vm_state = await _tour(vm, say, save_dir, temporary=temporary)
        await grant_vm_access("aiohcs-demo-vm-restored", vm_state.absolute())
        restored = await ComputeSystem.restore("aiohcs-demo-vm-restored", VM_CONFIG, str(vm_state))
        async with restored:
            say(restored.id, f"restore -> {await _state(restored)} (from {vm_state})")
            await restored.terminate()
            say(restored.id, f"terminate -> {_exit(await restored.wait())}")
    if temporary:
        say("aiohcs-demo", f"removed {save_dir} (keep the state files with --save-dir DIR)")


def run_demo(*, backend: str, out: TextIO, save_dir: str | None = None) -> int:
    """Run :func:`demo` on ``backend``; return the process exit code."""
    anyio.run(demo, out, None if save_dir is None else Path(save_dir), backend=backend)
    return 0
