"""The commands of the ``aiohcs`` tool, as async functions of (args, context)."""

from __future__ import annotations

import contextlib
import datetime
import sys
import warnings
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import anyio

from aiohcs import _json
from aiohcs.cli._runtime import CliError, Context, in_flight
from aiohcs.errors import HResult, HResultValue, ServiceDisconnected
from aiohcs.events import Event, ServiceDisconnectedEvent, SystemExited
from aiohcs.service import service_properties
from aiohcs.system import ComputeSystem, enumerate_systems

# ------------------------------------------------------------------------ helpers


def read_config(path: str) -> Any:
    """Read a JSON configuration document from ``path`` (``-`` = stdin)."""
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    try:
        return _json.read(text)
    except _json.JSONDecodeError as exc:
        raise CliError(f"{path}: invalid JSON: {exc}") from None


@contextlib.asynccontextmanager
async def opened(system_id: str, ctx: Context) -> AsyncIterator[ComputeSystem]:
    """Open ``system_id`` in the context's namespace for the block."""
    system = await ComputeSystem.open(system_id, namespace=ctx.namespace)
    async with system:
        yield system


@contextlib.contextmanager
def exit_deadline(system_id: str, timeout: float | None) -> Iterator[None]:
    """``fail_after(timeout)`` around a wait for the exit, reported as a one-line error."""
    try:
        with anyio.fail_after(timeout):
            yield
    except TimeoutError:
        raise CliError(f"{system_id} did not exit within {timeout:g} s") from None


def exit_summary(status: Mapping[str, Any]) -> str:
    """A SystemExitStatus (as a dict) in one line: ``ForcedExit status=0x00000000``."""
    value = status.get("Status")
    hresult = HResultValue(value if isinstance(value, int) else 0)
    return f"{status.get('ExitType') or '?'} status={hresult}"


def _state_of(props: Any) -> str:
    if not isinstance(props, dict):
        return "?"
    return str(props.get("State") or ("Stopped" if props.get("Stopped") else "?"))


async def _report_state(system: ComputeSystem, ctx: Context, extra: dict[str, Any]) -> None:
    props = (await system.properties()).to_dict()
    if ctx.out.json:
        doc = {"Id": system.id, "State": _state_of(props), **extra}
        if props.get("ExitType"):
            doc["ExitType"] = props["ExitType"]
        ctx.out.document(doc)
    else:
        tail = "".join(
            f"  {exit_summary(v)}" if k == "ExitStatus" else f"  {k}={v}" for k, v in extra.items()
        )
        ctx.out.line(f"{system.id}  {_state_of(props)}{tail}")


# ------------------------------------------------------------------------ list, inspect


async def cmd_list(args: Any, ctx: Context) -> int:
    """List compute systems (optionally filtered by id, type, owner)."""
    query: dict[str, Any] = {}
    if args.id:
        query["Ids"] = list(args.id)
    if args.type:
        query["Types"] = list(args.type)
    if args.owner:
        query["Owners"] = list(args.owner)
    systems = [s.to_dict() for s in await enumerate_systems(query or None, namespace=ctx.namespace)]
    systems.sort(key=lambda s: str(s.get("Id", "")))
    if ctx.out.json:
        ctx.out.document(systems)
        return 0
    rows = [
        [s.get("Id"), s.get("SystemType"), s.get("State"), s.get("Owner"),
         s.get("RuntimeOsType"), s.get("RuntimeId")]
        for s in systems
    ]  # fmt: skip
    ctx.out.table(["ID", "TYPE", "STATE", "OWNER", "OS", "RUNTIME ID"], rows)
    return 0


async def cmd_inspect(args: Any, ctx: Context) -> int:
    """Print a system's Properties document."""
    async with opened(args.id, ctx) as system:
        props = (await system.properties(*args.property)).to_dict()
    ctx.out.properties(props)
    return 0


# ------------------------------------------------------------------------ lifecycle


async def cmd_create(args: Any, ctx: Context) -> int:
    """Create a system from a configuration file; with --start also start it."""
    config = read_config(args.config)
    ctx.interrupt_note = in_flight("create", args.id)
    async with await ComputeSystem.create(args.id, config, namespace=ctx.namespace) as system:
        if args.start:
            ctx.interrupt_note = in_flight("start", args.id)
            async with ctx.out.progress(f"starting {args.id}"):
                await system.start()
        await _report_state(system, ctx, {})
    ctx.interrupt_note = None
    note_own_emulator(ctx, args.id)
    return 0


def note_own_emulator(ctx: Context, subject: str) -> None:
    """Warn that ``subject`` ends with the command when it runs its own hcsim (no service)."""
    if not ctx.in_script and _on_own_emulator():
        ctx.out.note(
            f"on hcsim without a service the emulator runs inside this command, so {subject} "
            "ends with it; start a shared one with 'aiohcs hcsim serve', or use "
            "'aiohcs script FILE' to keep working with it"
        )


def _on_own_emulator() -> bool:
    """True when the tool runs hcsim in its own process (no service)."""
    from aiohcs import _hcsim_service, testing

    return testing.is_available() and _hcsim_service.service_socket() is None


_VERBS = {
    "start": ("start", "starting"),
    "pause": ("pause", "pausing"),
    "resume": ("resume", "resuming"),
    "shutdown": ("shutdown", "shutting down"),
    "kill": ("terminate", "terminating"),
}


async def cmd_lifecycle(args: Any, ctx: Context) -> int:
    """start, pause, resume, shutdown, kill: one call, then print the state."""
    method, progress = _VERBS[args.command]
    async with opened(args.id, ctx) as system:
        ctx.interrupt_note = in_flight(method, args.id)
        async with ctx.out.progress(f"{progress} {args.id}"):
            await getattr(system, method)()
            status = None
            if getattr(args, "wait", False):
                with exit_deadline(args.id, args.timeout):
                    status = (await system.wait()).to_dict()
        ctx.interrupt_note = None
        await _report_state(system, ctx, {"ExitStatus": status} if status is not None else {})
    return 0


async def cmd_save(args: Any, ctx: Context) -> int:
    """Save a (paused) system's state to a file; with --pause pause it first."""
    path = str(Path(args.path).absolute())
    async with opened(args.id, ctx) as system:
        if args.pause:
            ctx.interrupt_note = in_flight("pause", args.id)
            await system.pause()
        ctx.interrupt_note = in_flight("save", args.id)
        async with ctx.out.progress(f"saving {args.id} to {args.path}"):
            await system.save(path)
        ctx.interrupt_note = None
        await _report_state(system, ctx, {"SavedTo": path})
    return 0


async def cmd_restore(args: Any, ctx: Context) -> int:
    """Create a VM from a configuration and a saved state file, and start it."""
    config = read_config(args.config)
    path = str(Path(args.path).absolute())
    ctx.interrupt_note = in_flight("restore", args.id)
    async with ctx.out.progress(f"restoring {args.id} from {args.path}"):
        system = await ComputeSystem.restore(args.id, config, path, namespace=ctx.namespace)
    async with system:
        ctx.interrupt_note = None
        await _report_state(system, ctx, {"RestoredFrom": path})
    return 0


async def cmd_wait(args: Any, ctx: Context) -> int:
    """Wait until a system exits; print its exit status."""
    async with opened(args.id, ctx) as system:
        ctx.ready()
        with exit_deadline(args.id, args.timeout):
            status = (await system.wait()).to_dict()
    if ctx.out.json:
        ctx.out.document({"Id": args.id, "ExitStatus": status})
    else:
        ctx.out.line(f"{args.id}  exited  {exit_summary(status)}")
    return 0


# ------------------------------------------------------------------------ exec


async def cmd_exec(args: Any, ctx: Context) -> int:
    """Run a process in a system with stdio attached; exit with its exit code."""
    from aiohcs.cli._exec import binary, run_exec

    command = list(args.cmd)  # (never empty: parse_command requires one)
    env: dict[str, str] = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"--env needs NAME=VALUE, not {item!r}")
        env[key] = value
    stdin_fd = -1
    if args.interactive:
        try:
            stdin_fd = sys.stdin.fileno()
        except (OSError, ValueError, AttributeError) as exc:
            raise CliError("-i needs a standard input with a file descriptor") from exc
    # Output still held open after the exit is reported as a note by run_exec instead.
    with _pipes_not_closed_quiet():
        async with opened(args.id, ctx) as system:
            return await run_exec(
                system,
                command,
                ctx,
                interactive=args.interactive,
                tty=args.tty,
                cwd=args.cwd,
                env=env or None,
                user=args.user,
                stdin_fd=stdin_fd,
                drain_timeout=args.drain_timeout,
                stdout=binary(ctx.out.out),
                stderr=binary(ctx.out.err),
            )


class _QuietPipesNotClosed:
    """Hides :class:`~aiohcs.process.PipesNotClosed` warnings while at least one exec runs.

    The filter is never left behind: the first exec to start enters one
    ``warnings.catch_warnings()`` and the last one to end leaves it. Overlapping execs (``exec
    ... &`` in a script) end in any order; each entering a ``catch_warnings`` of its own
    would restore the filters out of order and leave the ignore filter installed.
    """

    def __init__(self) -> None:
        self._running = 0
        self._saved: warnings.catch_warnings[None] | None = None

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        from aiohcs.process import PipesNotClosed

        if self._running == 0:
            saved = warnings.catch_warnings()
            saved.__enter__()
            self._saved = saved
            warnings.filterwarnings("ignore", category=PipesNotClosed)
        self._running += 1
        try:
            yield
        finally:
            self._running -= 1
            if self._running == 0 and self._saved is not None:
                saved, self._saved = self._saved, None
                saved.__exit__(None, None, None)


_pipes_not_closed_quiet = _QuietPipesNotClosed()


# ------------------------------------------------------------------------ events


def event_document(system_id: str, event: Event) -> dict[str, Any]:
    """One event as a JSON-ready dict."""
    return {
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
        "system": system_id,
        "event": type(event).__name__,
        "type": event.type,
        "data": event.data,
        "synthesized": event.synthesized,
    }


def _summary(event: Event) -> str:
    if isinstance(event, SystemExited):
        return exit_summary(event.data if isinstance(event.data, dict) else {})
    if event.data is None:
        return ""
    return _json.write(event.data)


class _EventPrinter:
    def __init__(self, ctx: Context, limit: int | None) -> None:
        self.ctx = ctx
        self.left = limit
        self.done = anyio.Event()

    def __call__(self, system_id: str, event: Event) -> None:
        if self.done.is_set():
            return
        out = self.ctx.out
        if out.json:
            out.document(event_document(system_id, event), lines=True)
        else:
            now = datetime.datetime.now().strftime("%H:%M:%S.%f")[:-3]
            out.line(f"{now}  {system_id:<20} {type(event).__name__:<22} {_summary(event)}")
        if self.left is not None:
            self.left -= 1
            if self.left <= 0:
                self.done.set()


async def _watch_one(system: ComputeSystem, stream: Any, printer: _EventPrinter) -> None:
    """Print the events of ``system``; raise ServiceDisconnected if the service went away.

    A watcher must not end as if the system had exited when it was the service that died:
    ``events --follow`` then exits 1, as ``wait`` and ``exec`` do.
    """
    async with system, stream:
        async for event in stream:
            printer(system.id, event)
            if isinstance(event, ServiceDisconnectedEvent):
                raise ServiceDisconnected(
                    HResult.HCS_E_SERVICE_DISCONNECT, operation="Events", system_id=system.id
                )


async def _open_quietly(system_id: str, ctx: Context) -> ComputeSystem | None:
    from aiohcs.errors import SystemAlreadyStopped, SystemNotFound

    try:
        return await ComputeSystem.open(system_id, namespace=ctx.namespace)
    except (SystemNotFound, SystemAlreadyStopped):
        return None  # gone between enumerate and open


async def cmd_events(args: Any, ctx: Context) -> int:
    """Print events of one system, or of every system (new ones are picked up)."""
    limit = args.count if args.count is not None else (None if args.follow else 1)
    printer = _EventPrinter(ctx, limit)
    one = None
    if args.id is not None:
        one = await ComputeSystem.open(args.id, namespace=ctx.namespace)
    try:
        with anyio.move_on_after(args.timeout):
            async with anyio.create_task_group() as tg:

                async def stop_when_done() -> None:
                    await printer.done.wait()
                    tg.cancel_scope.cancel()

                tg.start_soon(stop_when_done)
                if one is not None:
                    stream = one.events()  # subscribed now: nothing after this is missed
                    ctx.ready()
                    await _watch_one(one, stream, printer)
                    tg.cancel_scope.cancel()
                else:
                    watched: set[str] = set()
                    first = True
                    while True:
                        for props in await enumerate_systems(namespace=ctx.namespace):
                            system_id = props.id
                            if not isinstance(system_id, str) or system_id in watched:
                                continue
                            found = await _open_quietly(system_id, ctx)
                            if found is None:
                                continue
                            watched.add(system_id)
                            tg.start_soon(_watch_one, found, found.events(), printer)
                        if first:
                            first = False
                            ctx.ready()
                        await anyio.sleep(args.interval)
    finally:
        if one is not None:
            await one.aclose()
    return 0


# ------------------------------------------------------------------------ service, sim


async def cmd_service(args: Any, ctx: Context) -> int:
    """Print the service's properties (Basic unless --property is given)."""
    props = (await service_properties(*args.property)).to_dict()
    ctx.out.properties(props)
    return 0


async def cmd_sim(args: Any, ctx: Context) -> int:
    """Emulator-only fault injection: crash, guest power-off, disconnect, delay, fail."""
    from aiohcs import testing

    if not testing.is_available():
        raise CliError("'aiohcs sim' works only on the emulator (hcsim), not on Windows")
    if args.action == "disconnect":
        testing.disconnect_service()
        what = "service disconnected"
    elif args.id is None:
        raise CliError(f"'sim {args.action}' needs a system id or function name")
    elif args.action in ("delay", "fail"):
        what = _sim_fault(args)
    elif args.action == "crash":
        testing.crash_system(args.id, namespace=ctx.namespace)
        what = f"{args.id}  crashed (worker process died)"
    else:
        testing.guest_shutdown(args.id, namespace=ctx.namespace)
        what = f"{args.id}  guest powered off"
    await anyio.lowlevel.checkpoint()
    if ctx.out.json:
        ctx.out.document({"action": args.action, "target": args.id, "ok": True})
    else:
        ctx.out.line(what)
    return 0


def _sim_fault(args: Any) -> str:
    """``sim delay FUNCTION MS`` / ``sim fail FUNCTION HRESULT [COUNT]``."""
    from aiohcs import testing

    try:
        numbers = [int(v, 0) for v in args.values]
    except ValueError:
        raise CliError(f"'sim {args.action}' takes numbers, not {args.values!r}") from None
    try:
        if args.action == "delay":
            if len(numbers) != 1 or numbers[0] < 0:
                raise CliError("usage: sim delay FUNCTION MILLISECONDS")
            testing.delay(args.id, completion_ms=numbers[0])
            return f"{args.id}  delayed {numbers[0]} ms"
        if len(numbers) not in (1, 2) or not numbers[0] & 0x80000000:
            raise CliError("usage: sim fail FUNCTION HRESULT [COUNT] (a failure HRESULT, 0x8...)")
        count = numbers[1] if len(numbers) == 2 else 1
        # The operation fails (the call itself succeeds), as a slow failure would.
        testing.fail_next(args.id, numbers[0], count=count, asynchronous=True)
    except ValueError as exc:  # the name list is too long for one error line
        raise CliError(f"sim {args.action}: {str(exc).split('; valid names')[0]}") from None
    return f"{args.id}  next {count} call(s) fail with {HResultValue(numbers[0])}"


async def cmd_sleep(args: Any, ctx: Context) -> int:
    """Sleep for some seconds (useful in scripts)."""
    ctx.ready()
    await anyio.sleep(args.seconds)
    return 0
