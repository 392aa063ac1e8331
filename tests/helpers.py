"""What several test modules share: configurations, hcsim helpers, clean-up, checks.

* Configurations: :data:`LINUX`, :data:`WINDOWS` (= :data:`CONTAINER`), :data:`VM`
  (:func:`owned_by` for a test that looks for its own owner); the modify request
  :data:`MEMORY_UPDATE`; the error classes :data:`INVALID` and :data:`STOPPED`.
* hcsim: :func:`settle` (no operation left), :func:`no_process_left`, :func:`no_hcs_call`
  (a block makes no HCS call). Tests drive hcsim through the public :mod:`aiohcs.testing`
  API (``testing.fail_next``, ``testing.delay``, ``testing.counts``, ...); :data:`SYNC` /
  :data:`ASYNC` name the two values of its ``asynchronous=``.
* Guest commands: :func:`guest` (the guest program, tests/guest.py, on every platform).
* Systems and processes: :func:`state_of`, :func:`terminate_and_close`, :func:`destroy`,
  :func:`echo_and_kill`; the thread engine's :func:`pump_threads`; :func:`open_fds`.
* Child interpreters that import this aiohcs: :func:`child_env`, :func:`run_child`,
  :func:`run_python`; the import watch (:func:`run_import_watch`); tools/gen_schema.py
  as a module (:func:`gen_schema_module`).
* The ``aiohcs`` command in-process: :func:`cli` (exit code, stdout, stderr), :func:`cli_ok`,
  :func:`cli_json`, :func:`cli_fails`.

The ``vm``, ``linux`` and ``windows`` fixtures (systems of these configurations) and the
pipe ``engine`` fixture are in conftest.py.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import io
import json
import os
import shlex
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import anyio
import pytest

import aiohcs
from aiohcs import errors, testing

#: Running under Wine (ntdll exports wine_get_version). Wine 8's pseudo-consoles give their
#: process no standard handles and no resize, and their conhost.exe can hand the console's
#: pipes to explorer.exe, whose output then never ends (hcsim/README.md, "Under Wine").
WINE: Final = sys.platform == "win32" and hasattr(ctypes.WinDLL("ntdll"), "wine_get_version")


if TYPE_CHECKING:
    from aiohcs.process import Process
    from aiohcs.system import ComputeSystem

#: What every HCS and Hcn function returns while :func:`tripwire` is set.
TRIPWIRE: Final = errors.HResult.ERROR_VMCOMPUTE_TOO_MANY_NOTIFICATIONS


@contextlib.contextmanager
def tripwire() -> Iterator[None]:
    """Every faultable HCS and Hcn function fails with TRIPWIRE while the block runs.

    Checks made "before C" (before any HCS function is called) pass under it; anything
    that reaches HCS fails with TRIPWIRE.
    """
    functions = sorted(testing.faultable_functions())
    for function in functions:
        testing.fail_next(function, TRIPWIRE, count=1_000_000)
    try:
        yield
    finally:
        for function in functions:
            testing.fail_next(function, TRIPWIRE, count=0)


#: The schema version every test configuration declares.
SCHEMA: Final = {"Major": 2, "Minor": 1}
#: A Linux VM: on hcsim its processes run on the host.
LINUX: dict[str, Any] = {
    "SchemaVersion": SCHEMA,
    "Owner": "aiohcs-tests",
    "VirtualMachine": {
        "Chipset": {"LinuxKernelDirect": {"KernelFilePath": "/boot/vmlinuz"}},
        "ComputeTopology": {"Memory": {"SizeInMB": 512}, "Processor": {"Count": 1}},
        "Devices": {},
        # HCS runs processes in a VM (and shuts it down gracefully) over the guest
        # connection; without one both fail with ERROR_NOT_SUPPORTED.
        "GuestConnection": {},
    },
}
#: A Windows container: on hcsim its command lines are split the Windows way.
WINDOWS: dict[str, Any] = {
    "SchemaVersion": SCHEMA,
    "Owner": "aiohcs-tests",
    "Container": {"Storage": {"Layers": []}},
}
#: A container (on hcsim every container is a Windows one): the same configuration.
CONTAINER: Final = WINDOWS
#: A UEFI VM (the ``vm`` fixture of conftest.py is one).
VM: dict[str, Any] = {
    "SchemaVersion": SCHEMA,
    "Owner": "aiohcs-tests",
    "VirtualMachine": {
        "Chipset": {"Uefi": {}},
        "ComputeTopology": {"Memory": {"SizeInMB": 1024}, "Processor": {"Count": 2}},
        "Devices": {},
        "GuestConnection": {},  # (its shutdown asks the guest)
    },
}


def owned_by(config: dict[str, Any], owner: str) -> dict[str, Any]:
    """``config`` with another ``Owner`` (for tests that look for their own owner)."""
    return {**config, "Owner": owner}


#: A modify request a running VM accepts (its memory becomes 2 GB).
MEMORY_UPDATE: Final = {
    "ResourcePath": "VirtualMachine/ComputeTopology/Memory/SizeInMB",
    "RequestType": "Update",
    "Settings": 2048,
}
#: What HCS raises for a call the system's state does not allow.
INVALID: Final = errors.InvalidState
#: What HCS raises for a stop of a system that has already stopped.
STOPPED: Final = errors.SystemAlreadyStopped

#: ``asynchronous=`` of :func:`aiohcs.testing.fail_next`: the call itself fails (SYNC) or
#: its operation completes with the error (ASYNC).
SYNC: Final = False
ASYNC: Final = True


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


async def no_process_left(timeout: float = 10) -> None:
    """Wait until hcsim has no process, process handle or pipe handle left."""
    with anyio.fail_after(timeout):
        while (now := testing.counts()).processes or now.process_handles or now.pipe_handles:
            await anyio.sleep(0.01)


#: The guest program (tests/guest.py): the commands the tests start, on every platform.
GUEST: Final = str(Path(__file__).resolve().parent / "guest.py")


def guest(*steps: str) -> list[str]:
    """The command that runs ``steps`` ("echo hi", "cat", "exit 3"...) in the guest program.

    The guest program (tests/guest.py, which lists the steps) is run by this interpreter,
    so the same command works on Linux and on Windows.
    """
    return [sys.executable, "-I", "-S", GUEST, *steps]


def guest_line(*steps: str) -> str:
    """:func:`guest` as one line of an ``aiohcs script`` (quoted as its parser splits it)."""
    return shlex.join(guest(*steps))


#: A Linux guest's exit code after a kill (128 + SIGKILL; Windows' signal module has no
#: SIGKILL).
KILLED: Final = 137


def host_alive(pid: int) -> bool:
    """True if the host process ``pid`` exists (hcsim reaps its processes: no zombie)."""
    if sys.platform == "win32":
        import ctypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        kernel32.OpenProcess.restype = ctypes.c_void_p
        kernel32.WaitForSingleObject.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        kernel32.CloseHandle.argtypes = [ctypes.c_void_p]
        synchronize, wait_timeout = 0x00100000, 0x102
        handle = kernel32.OpenProcess(synchronize, False, pid)
        if not handle:
            return False
        try:
            return bool(kernel32.WaitForSingleObject(handle, 0) == wait_timeout)
        finally:
            kernel32.CloseHandle(handle)
    else:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def kill_host(pid: int) -> None:
    """Kill the host process ``pid`` if it still exists."""
    if sys.platform == "win32":
        with contextlib.suppress(OSError):
            os.kill(pid, 9)  # (any value but the two CTRL events is TerminateProcess)
    else:
        import signal

        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


#: Echoes stdin, then stays (a failed start must not leave it running: it would not end
#: by itself when its pipes close).
CAT_THEN_STAY: Final = guest("cat", "quiet", "hold")
#: The names of the thread pipe engine's pump threads.
PUMPS: Final = ("aiohcs write pump", "aiohcs read pump")


def pump_threads() -> list[threading.Thread]:
    """The thread pipe engine's pump threads alive now."""
    return [t for t in threading.enumerate() if t.name in PUMPS]


async def echo_and_kill(proc: Process) -> None:
    """``proc`` (a ``cat``) echoes what its stdin gets up to EOF; then it is killed."""
    assert proc.stdin is not None
    assert proc.stdout is not None
    await proc.stdin.send(b"round trip")
    await proc.stdin.aclose()
    assert await proc.stdout.read_all() == b"round trip"
    await proc.kill()


def open_fds() -> int:
    """The number of descriptors (Windows: handles) this process has open.

    Linux reads /proc/self/fd; Windows asks GetProcessHandleCount.
    """
    if sys.platform == "win32":
        import ctypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        kernel32.GetCurrentProcess.restype = ctypes.c_void_p
        kernel32.GetProcessHandleCount.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        count = ctypes.c_uint32(0)
        if not kernel32.GetProcessHandleCount(kernel32.GetCurrentProcess(), ctypes.byref(count)):
            raise ctypes.WinError(ctypes.get_last_error())
        return count.value
    else:
        return len(os.listdir("/proc/self/fd"))


def quick_echo(text: str) -> list[str]:
    """The cheapest command that prints ``text`` (and a line end): the platform's own echo.

    For tests that start thousands of processes, where the guest program's start-up
    (an interpreter, ~7 ms of CPU each) would be most of the run.
    """
    if sys.platform == "win32":
        return ["cmd.exe", "/d", "/c", f"echo {text}"]
    else:
        return ["echo", text]


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


def run_child(
    *args: str,
    timeout: float | None = None,
    cwd: Path | None = None,
    stdin: str | None = None,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ``python *args`` (this interpreter, :func:`child_env`); its text output captured."""
    return subprocess.run(
        [sys.executable, *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=check,
        env=child_env(),
        cwd=cwd,
        timeout=timeout,
    )


def run_python(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a fresh interpreter that imports the same aiohcs as this one (whatever the cwd).

    A failure (non-zero exit) raises.
    """
    return run_child(*args, check=True, cwd=Path(Path(aiohcs.__file__).resolve().anchor))


def gen_schema_module() -> Any:
    """tools/gen_schema.py, imported as a module."""
    sys.path.insert(0, str(REPO / "tools"))
    try:
        return importlib.import_module("gen_schema")
    finally:
        sys.path.pop(0)


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
    script = IMPORT_WATCH + textwrap.dedent(body) + IMPORT_WATCH_REPORT
    out = run_child("-c", script, *args, timeout=120, cwd=REPO, check=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def heavy_modules(modules: list[str]) -> list[str]:
    """The modules of ``modules`` that belong to pydantic or to aiohcs's schema models."""
    return [
        name
        for name in modules
        if name.split(".")[0] in ("pydantic", "pydantic_core") or name.startswith("aiohcs.schema.")
    ]


def cli(*argv: str) -> tuple[int, str, str]:
    """Run ``aiohcs *argv`` in-process (``main(argv)``): its exit code, stdout and stderr."""
    from aiohcs.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def cli_ok(*argv: str) -> str:
    """The output of ``aiohcs *argv``, which must succeed and write nothing to stderr."""
    code, out, err = cli(*argv)
    assert code == 0, err
    assert not err
    return out


def cli_json(*argv: str) -> Any:
    """The JSON output of ``aiohcs *argv --json`` (see :func:`cli_ok`)."""
    return json.loads(cli_ok(*argv, "--json"))


def cli_fails(*argv: str, code: int = 1) -> str:
    """The error of ``aiohcs *argv``, which must exit with ``code`` and write no output."""
    got, out, err = cli(*argv)
    assert got == code, (out, err)
    assert not out
    return err


def interrupt_child(*args: str, after: str, timeout: float = 60) -> tuple[int, str, str]:
    """Run ``python *args``, press Ctrl-C (SIGINT) once its stdout has a line ending in ``after``.

    Returns its exit code, its whole stdout and its stderr. POSIX only (a signal).
    """
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while not seen or not seen[-1].rstrip("\n").endswith(after):
        assert time.monotonic() < deadline, seen
        line = proc.stdout.readline()
        assert line, f"exited early ({proc.wait()}): {seen}"
        seen.append(line)
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=timeout)
    return proc.returncode, "".join(seen) + rest, err
