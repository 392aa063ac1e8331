"""What several test modules share: configurations, hcsim helpers, clean-up, checks.

The VM, Linux VM and container configurations; waiting for hcsim to settle; terminating
and closing a system whatever its state; the number of open descriptors; a check that a
block makes no HCS call; the environment of a child interpreter that imports this aiohcs
(:func:`child_env`, :func:`run_python`); the fresh-interpreter import watch.

Tests drive hcsim through the public :mod:`aiohcs.testing` API (``testing.fail_next``,
``testing.delay``, ``testing.counts``, ...); :func:`counts`, :func:`fail_next`,
:func:`set_delay` and :func:`check_hr` keep the older call shapes for the modules that
still use them.

The ``vm``, ``linux`` and ``windows`` fixtures (systems of these configurations) and the
pipe ``engine`` fixture are in conftest.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import anyio
import pytest

import aiohcs
from aiohcs import errors, testing

if TYPE_CHECKING:
    from aiohcs.system import ComputeSystem

#: A Linux VM: on hcsim its processes run on the host.
LINUX: dict[str, Any] = {
    "SchemaVersion": {"Major": 2, "Minor": 1},
    "Owner": "aiohcs-tests",
    "VirtualMachine": {
        "Chipset": {"LinuxKernelDirect": {"KernelFilePath": "/boot/vmlinuz"}},
        "ComputeTopology": {"Memory": {"SizeInMB": 512}, "Processor": {"Count": 1}},
        "Devices": {},
    },
}
#: A Windows container: on hcsim its command lines are split the Windows way.
WINDOWS: dict[str, Any] = {
    "SchemaVersion": {"Major": 2, "Minor": 1},
    "Owner": "aiohcs-tests",
    "Container": {"Storage": {"Layers": []}},
}
#: A container (on hcsim every container is a Windows one): the same configuration.
CONTAINER: Final = WINDOWS
#: A UEFI VM (the ``vm`` fixture of conftest.py is one).
VM: dict[str, Any] = {
    "SchemaVersion": {"Major": 2, "Minor": 1},
    "Owner": "aiohcs-tests",
    "VirtualMachine": {
        "Chipset": {"Uefi": {}},
        "ComputeTopology": {"Memory": {"SizeInMB": 1024}, "Processor": {"Count": 2}},
        "Devices": {},
    },
}


async def state_of(system: ComputeSystem) -> str:
    """The system's state as HCS reports it ("Created", "Running", ...)."""
    return str((await system.properties()).state)


async def settle() -> None:
    """Wait until hcsim has no operation left (late completions drained)."""
    with anyio.fail_after(10):
        while (now := testing.counts()).pending_operations or now.operations:
            await anyio.sleep(0.005)


async def terminate_and_close(system: ComputeSystem) -> None:
    """Stop (if still alive) and close a system, whatever state it is in."""
    if not system.closed:
        if system.exit_event is None:
            with contextlib.suppress(errors.HcsError):
                await system.terminate()
        await system.aclose()


async def destroy(system_id: str, namespace: str | None = None) -> None:
    """Terminate system ``system_id`` through a fresh handle (if it still exists)."""
    from aiohcs.system import ComputeSystem  # (not at import: the binding may be missing)

    try:
        system = await ComputeSystem.open(system_id, namespace=namespace)
    except errors.SystemNotFound:
        return
    await terminate_and_close(system)


# ---------------------------------------------------------------- older call shapes


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def counts() -> dict[str, int]:
    """:func:`aiohcs.testing.counts` keyed by hcsim's C names (``"PendingOperations"``)."""
    now = testing.counts()
    return {_camel(f.name): getattr(now, f.name) for f in dataclasses.fields(now)}


def fail_next(function: str, hr: int, mode: int, count: int = 1) -> None:
    """:func:`aiohcs.testing.fail_next`; ``mode`` 1 is ``asynchronous=True``, 0 is False."""
    testing.fail_next(function, hr, count=count, asynchronous=bool(mode))


def set_delay(function: str, completion_ms: int, sync_ms: int = 0) -> None:
    """:func:`aiohcs.testing.delay` (stays until changed or reset)."""
    testing.delay(function, completion_ms=completion_ms, sync_ms=sync_ms)


def check_hr(hr: int) -> None:
    """Assert that a raw hcsim control call (``lib.Hcsim...``) succeeded."""
    assert hr == 0, f"hcsim control call failed: 0x{hr & 0xFFFFFFFF:08X}"


def open_fds() -> int:
    """The number of descriptors this process has open (Linux: reads /proc/self/fd)."""
    return len(os.listdir("/proc/self/fd"))


@contextlib.asynccontextmanager
async def no_hcs_call(system: ComputeSystem) -> AsyncIterator[None]:
    """The block makes no HCS call at all and starts no process.

    A fault is armed for the next call of any HCS function; after the block the system's
    next call must be the one that gets it.
    """
    processes = testing.counts().processes
    testing.fail_next("*", errors.HResult.E_FAIL)
    yield
    assert testing.counts().processes == processes
    with pytest.raises(errors.HcsError) as caught:
        await system.properties()
    assert caught.value.hresult == errors.HResult.E_FAIL, "the block made an HCS call"


REPO = Path(__file__).resolve().parent.parent


def child_env() -> dict[str, str]:
    """The environment of a child that imports the same aiohcs as this test run."""
    root = str(Path(aiohcs.__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}


def run_python(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a fresh interpreter that imports the same aiohcs as this one (whatever the cwd)."""
    env = {**os.environ, "PYTHONPATH": str(Path(aiohcs.__file__).resolve().parent.parent)}
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=Path(aiohcs.__file__).resolve().anchor,
    )


#: The start of a script for a fresh interpreter that records which thread imports each
#: module (``imported``: name -> thread id; ``loop_thread``: the main thread, where the
#: script then runs its event loop). The script ends by printing
#: :data:`IMPORT_WATCH_REPORT`'s JSON line.
IMPORT_WATCH = textwrap.dedent(
    """
    import json, sys, threading
    import anyio
    import aiohcs

    imported = {}

    class Watch:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name not in sys.modules:
                imported.setdefault(name, threading.get_ident())
            return None

    sys.meta_path.insert(0, Watch)
    loop_thread = threading.get_ident()
    """
)
#: The end of such a script: ``report`` (a dict the script filled) with ``on_loop`` (what
#: the loop's thread imported) and ``all`` (every import).
IMPORT_WATCH_REPORT = textwrap.dedent(
    """
    report["on_loop"] = sorted(m for m, thread in imported.items() if thread == loop_thread)
    report["all"] = sorted(imported)
    print(json.dumps(report))
    """
)


def run_import_watch(body: str, *args: str) -> dict[str, Any]:
    """Run IMPORT_WATCH + ``body`` + IMPORT_WATCH_REPORT in a fresh interpreter; its report.

    ``body`` runs the event loop and sets ``report`` (a dict).
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    script = IMPORT_WATCH + textwrap.dedent(body) + IMPORT_WATCH_REPORT
    out = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def heavy_modules(modules: list[str]) -> list[str]:
    """The modules of ``modules`` that belong to pydantic or to aiohcs's schema models."""
    return [
        name
        for name in modules
        if name.split(".")[0] in ("pydantic", "pydantic_core") or name.startswith("aiohcs.schema.")
    ]
