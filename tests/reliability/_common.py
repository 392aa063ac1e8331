"""What the probe children share: configurations, host-process scans, resources, output."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Final

from aiohcs import testing

#: The environment variable that marks every host process of one probe run.
TAG_VARIABLE: Final = "AIOHCS_PROBE_TAG"
#: The environment variable that names the storm operation a guest process belongs to.
OP_VARIABLE: Final = "AIOHCS_PROBE_OP"
#: The line prefix of a child's result (one JSON document) on its stdout.
RESULT_PREFIX: Final = "PROBE-RESULT "

SCHEMA: Final = {"Major": 2, "Minor": 1}
# The probes' own variants of tests/helpers.py's configurations: their systems go with
# their last handle (a killed child leaves none behind) and carry the probes' owner; the
# children do not import the pytest-side helpers.
#: A Linux VM (processes get CommandArgs), gone with its last handle.
LINUX_VM: Final[dict[str, Any]] = {
    "SchemaVersion": SCHEMA,
    "Owner": "aiohcs-probes",
    "ShouldTerminateOnLastHandleClosed": True,
    "VirtualMachine": {
        "Chipset": {"LinuxKernelDirect": {"KernelFilePath": "/boot/vmlinuz"}},
        "ComputeTopology": {"Memory": {"SizeInMB": 512}, "Processor": {"Count": 1}},
        "Devices": {},
        "GuestConnection": {},  # processes need the guest connection
    },
}
#: A container, gone with its last handle.
CONTAINER: Final[dict[str, Any]] = {
    "SchemaVersion": SCHEMA,
    "Owner": "aiohcs-probes",
    "ShouldTerminateOnLastHandleClosed": True,
    "Container": {"Storage": {"Layers": []}},
}
MEMORY_UPDATE: Final = {
    "ResourcePath": "VirtualMachine/ComputeTopology/Memory/SizeInMB",
    "RequestType": "Update",
    "Settings": 1024,
}


async def leaks_after_settling(
    baseline: testing.Counts | None = None,
) -> tuple[dict[str, int], testing.Counts]:
    """The hcsim objects still alive after up to 10 s of settling, and the last counts.

    No leak: ``{}`` (:func:`aiohcs.testing.assert_no_leaks_async` with a 10 s settle).
    """
    try:
        return {}, await testing.assert_no_leaks_async(settle=10.0, baseline=baseline)
    except testing.LeakError as exc:
        return exc.leaks, exc.counts


def tag() -> str:
    """This run's tag (set by the parent in the child's environment)."""
    value = os.environ.get(TAG_VARIABLE)
    if not value:
        raise RuntimeError(f"{TAG_VARIABLE} is not set: run the probe through its test")
    return value


# ---------------------------------------------------------------- host processes


@dataclass(frozen=True)
class HostProcess:
    """One host process found in /proc."""

    pid: int
    ppid: int
    state: str
    command: str
    op: str | None

    def describe(self) -> dict[str, Any]:
        """A JSON-able description."""
        return asdict(self)


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError:  # gone meanwhile, or not ours
        return None


def _stat(pid: int) -> tuple[str, int] | None:
    raw = _read(f"/proc/{pid}/stat")
    if raw is None:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    rest = raw[raw.rfind(b")") + 2 :].split()
    return rest[0].decode(), int(rest[1])


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _describe(pid: int, state: str, ppid: int, environ: bytes | None) -> HostProcess:
    cmdline = _read(f"/proc/{pid}/cmdline") or b""
    op = None
    for item in (environ or b"").split(b"\0"):
        if item.startswith(OP_VARIABLE.encode() + b"="):
            op = item.split(b"=", 1)[1].decode(errors="replace")
    command = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return HostProcess(pid, ppid, state, command, op)


def _forks_of_this_process() -> set[int]:
    """Children that are this interpreter forked without exec (hcsim's guard process).

    hcsim forks a guard at its first spawn that outlives nothing but its host: while
    the host runs it is part of the emulator, not a leftover. (After the host is gone,
    the parent's scan still sees it: there, a guard that lingers is a leftover.)
    """
    me = (_read("/proc/self/cmdline"), _exe(os.getpid()))
    found = set()
    for pid in _pids():
        stat = _stat(pid)
        mine = stat is not None and stat[1] == os.getpid()
        if mine and (_read(f"/proc/{pid}/cmdline"), _exe(pid)) == me:
            found.add(pid)
    return found


def _exe(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def tagged_processes(run_tag: str, *, exclude: Iterable[int] = ()) -> list[HostProcess]:
    """Live (not zombie) host processes whose environment carries ``run_tag``.

    This process and its own forks (hcsim's guard) are not counted.
    """
    marker = f"{TAG_VARIABLE}={run_tag}".encode()
    skip = {os.getpid(), *exclude, *_forks_of_this_process()}
    found = []
    for pid in _pids():
        if pid in skip:
            continue
        environ = _read(f"/proc/{pid}/environ")
        if environ is None or marker not in environ.split(b"\0"):
            continue
        stat = _stat(pid)
        if stat is None or stat[0] in ("Z", "X"):
            continue
        found.append(_describe(pid, stat[0], stat[1], environ))
    return found


def descendants(root: int | None = None) -> list[HostProcess]:
    """Live host processes descending from ``root`` (default: this process).

    Zombies, and this process's own forks (hcsim's guard) with their descendants, are
    not counted.
    """
    top = os.getpid() if root is None else root
    guards = _forks_of_this_process()
    parent: dict[int, tuple[str, int]] = {}
    for pid in _pids():
        stat = _stat(pid)
        if stat is not None:
            parent[pid] = stat
    children: dict[int, list[int]] = {}
    for pid, (_, ppid) in parent.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [pid for pid in children.get(top, []) if pid not in guards]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        state, ppid = parent[pid]
        if state not in ("Z", "X"):
            found.append(_describe(pid, state, ppid, _read(f"/proc/{pid}/environ")))
    return found


def ancestors() -> list[int]:
    """The pids from this process's parent up to pid 1."""
    found = []
    pid = os.getppid()
    while pid > 1:
        found.append(pid)
        stat = _stat(pid)
        if stat is None:
            break
        pid = stat[1]
    return found


def leftover_processes(run_tag: str, *, exclude: Iterable[int] = ()) -> list[HostProcess]:
    """Tagged processes and descendants of this process, live, other than ``exclude``.

    This process's ancestors (which may carry the tag too) are never counted.
    """
    skip = {*exclude, *ancestors()}
    seen: dict[int, HostProcess] = {}
    for proc in (*tagged_processes(run_tag, exclude=skip), *descendants()):
        if proc.pid not in skip:
            seen[proc.pid] = proc
    return sorted(seen.values(), key=lambda p: p.pid)


def kill_all(processes: Iterable[HostProcess]) -> None:
    """SIGKILL each process (containment after it was recorded)."""
    for proc in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(proc.pid, signal.SIGKILL)


# ---------------------------------------------------------------- resources


@dataclass(frozen=True)
class Resources:
    """This process's footprint at one moment."""

    rss_kib: int
    fds: int
    threads: int


def resources() -> Resources:
    """RSS (from /proc/self/statm), open fds and threads of this process."""
    with open("/proc/self/statm") as file:
        rss_pages = int(file.read().split()[1])
    return Resources(
        rss_kib=rss_pages * os.sysconf("SC_PAGESIZE") // 1024,
        fds=len(os.listdir("/proc/self/fd")),
        threads=len(os.listdir("/proc/self/task")),
    )


# ---------------------------------------------------------------- output


def emit(result: dict[str, Any]) -> None:
    """Print the result document for the parent (one line) and flush."""
    print(RESULT_PREFIX + json.dumps(result, sort_keys=True, default=str), flush=True)


def log(message: str) -> None:
    """A progress line on stderr (the parent shows stderr when the probe fails)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _leaves(exc: BaseException) -> tuple[BaseException, ...] | None:
    """The exceptions of an exception group (builtin or backport); None for others."""
    inner = getattr(exc, "exceptions", None)
    if type(exc).__name__.endswith("ExceptionGroup") and isinstance(inner, tuple):
        return inner
    return None


def describe_exception(exc: BaseException) -> str:
    """``Type: message`` (groups: their leaves), for the report."""
    leaves = _leaves(exc)
    if leaves is not None:
        inner = ", ".join(describe_exception(e) for e in leaves)
        return f"{type(exc).__name__}[{inner}]"
    return f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}"[:300]


def is_typed(exc: BaseException) -> bool:
    """An exception of aiohcs's own error family (a class defined in the aiohcs package)."""
    if _leaves(exc) is not None:
        return False
    return any(cls.__module__.split(".")[0] == "aiohcs" for cls in type(exc).__mro__)


def arm_deadline() -> float:
    """Dump every thread's stack and exit if this child outlives its deadline (seconds)."""
    import faulthandler

    seconds = float(os.environ.get("AIOHCS_PROBE_DEADLINE", "120"))
    faulthandler.dump_traceback_later(seconds, exit=True)
    return seconds
