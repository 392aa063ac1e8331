"""``aiohcs hcsim serve|status|stop``: run hcsim as a service shared by every process.

``serve`` runs in the foreground until Ctrl-C, SIGTERM or ``aiohcs hcsim stop``; the work
happens in C threads of the extension, this thread only waits. These commands never make
their own process a client (``AIOHCS_HCSIM`` only chooses their default socket).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from aiohcs import _hcsim_client
from aiohcs import _hcsim_service as service
from aiohcs.cli._argtypes import positive_seconds
from aiohcs.cli._output import Output
from aiohcs.cli._runtime import CliError
from aiohcs.errors import HcsimServiceError, HcsimServiceUnavailable

__all__ = ["add_hcsim_parser", "run_hcsim", "socket_for"]

#: How often ``serve`` checks that its service still answers (a stop request ends it).
_POLL_S = 0.5


def add_hcsim_parser(sub: Any) -> None:
    """The ``hcsim`` command group and its ``serve``, ``status`` and ``stop`` commands."""
    p = sub.add_parser(
        "hcsim",
        help="run hcsim (the emulator) as a service shared by every process",
        description="Off Windows: 'serve' runs hcsim as a long-lived service on a Unix "
        "socket, so that compute systems outlive the command that made them and every "
        "aiohcs command (and every process with AIOHCS_HCSIM=PATH) sees the same emulated "
        "host. Default socket: $XDG_RUNTIME_DIR/aiohcs/hcsim.sock, else "
        "/tmp/aiohcs-<uid>/hcsim.sock (or $AIOHCS_HCSIM when set).",
    )
    group = p.add_subparsers(dest="hcsim_command", metavar="ACTION", required=True)
    socket_help = "the service's socket (default: $AIOHCS_HCSIM, else the per-user one)"

    s = group.add_parser(
        "serve",
        help="run the service in the foreground",
        description="Run hcsim as a service on a Unix socket until Ctrl-C, SIGTERM or "
        "'aiohcs hcsim stop'. Prints one line (socket, pid) once it accepts clients. The "
        "socket is owner-only (0600); with --group it is 0660 and members of that group "
        "are admitted too. Exits 1 if a service already runs on the socket.",
    )
    s.add_argument("--socket", metavar="PATH", help=socket_help)
    s.add_argument("--group", metavar="NAME|GID", help="also admit this group's members")
    s.add_argument("--json", action="store_true", help="print the ready line as JSON")

    s = group.add_parser(
        "status",
        help="print the running service's pid, clients, systems and uptime",
        description="Print the status of the service on the socket; exit 1 if none runs.",
    )
    s.add_argument("--socket", metavar="PATH", help=socket_help)
    s.add_argument("--json", action="store_true", help="print one JSON document")

    s = group.add_parser(
        "stop",
        help="stop the running service and wait until it is gone",
        description="Ask the service on the socket to stop, and wait until it is gone. Its "
        "compute systems end with it.",
    )
    s.add_argument("--socket", metavar="PATH", help=socket_help)
    s.add_argument(
        "--timeout",
        type=positive_seconds,
        default=10.0,
        metavar="S",
        help="give up after S (default 10)",
    )
    s.add_argument("--json", action="store_true", help="print one JSON document")


def socket_for(args: argparse.Namespace, *, create: bool = False) -> str:
    """The socket of a ``hcsim`` command: --socket, else $AIOHCS_HCSIM, else the default."""
    path = args.socket or service.environment_socket()
    if path is None:
        path = service.default_socket_path(create=create)
    return service.check_socket_path(path)


def run_hcsim(args: argparse.Namespace, out: Output) -> int:
    """Run ``aiohcs hcsim ACTION``; errors are one line and exit code 1."""
    _hcsim_client.auto_connect = False  # these commands never become clients themselves
    out = out.with_json(bool(args.json))
    try:
        action = {"serve": _serve, "status": _status, "stop": _stop}[args.hcsim_command]
        return action(args, out)
    except (HcsimServiceError, CliError) as exc:
        out.error(str(exc))
        return 1


def _group_id(text: str | None) -> int | None:
    """The gid of --group (a name or a number); a group the system does not know is refused."""
    if text is None:
        return None
    if sys.platform == "win32":
        raise CliError("--group: the service mode is POSIX only")
    else:
        import grp

        number = text.isdigit()
        try:
            entry = grp.getgrgid(int(text)) if number else grp.getgrnam(text)
        except (KeyError, OverflowError):
            what = f"with id {text}" if number else f"named {text!r}"
            raise CliError(f"--group: no group {what}") from None
        return int(entry.gr_gid)


@contextlib.contextmanager
def _stop_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` for the block (the previous handlers come back)."""

    def handler(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _serve(args: argparse.Namespace, out: Output) -> int:
    path = socket_for(args, create=True)
    group = _group_id(args.group)
    stop = threading.Event()
    with _stop_signals(stop):
        service.start(path, group)
        try:
            if out.json:
                out.document({"Socket": path, "ProcessId": os.getpid()}, lines=True)
            else:
                out.line(f"hcsim service on {path} (pid {os.getpid()})")
            while not stop.wait(_POLL_S):
                if not _answers(path):
                    break  # stopped on request ('aiohcs hcsim stop')
        finally:
            service.stop()
    return 0


def _answers(path: str) -> bool:
    try:
        service.query(path)
    except HcsimServiceUnavailable:
        return False
    return True


def _status(args: argparse.Namespace, out: Output) -> int:
    status = service.query(socket_for(args))
    if out.json:
        out.document(status.to_dict())
        return 0
    doc = status.to_dict()
    doc["Uptime"] = f"{status.uptime_ms / 1000:.1f} s"
    del doc["UptimeMs"]
    out.properties(doc)
    return 0


def _stop(args: argparse.Namespace, out: Output) -> int:
    path = socket_for(args)
    pid = service.query(path).process_id
    service.request_stop(path)
    deadline = time.monotonic() + args.timeout
    while _answers(path) or _alive(pid):
        if time.monotonic() >= deadline:
            raise CliError(f"the hcsim service at {path} (pid {pid}) did not stop within "
                           f"{args.timeout:g} s")  # fmt: skip
        time.sleep(0.05)
    if out.json:
        out.document({"Socket": path, "ProcessId": pid, "Stopped": True})
    else:
        out.line(f"hcsim service on {path} (pid {pid}) stopped")
    return 0


def _alive(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie (waiting to be reaped)."""
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): alive as far as we can tell
