"""Running one command (or a script) on an event loop: errors, Ctrl-C and background jobs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from aiohcs import _json
from aiohcs.cli._interrupts import open_interrupts
from aiohcs.cli._output import Output
from aiohcs.errors import HcsError, HcsimServiceError, HcsNotAvailableError, SystemNotFound

#: Exit code after Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A problem the user can fix, reported as one line (exit code 1)."""


@dataclass
class Context:
    """What a command needs besides its arguments."""

    out: Output
    namespace: str | None = None
    in_script: bool = False
    #: Called once the command is attached (subscribed, opened): ``&`` jobs wait for it.
    ready: Callable[[], None] = lambda: None
    #: What to tell the user if Ctrl-C interrupts the command now (what is in flight).
    interrupt_note: str | None = None
    #: A command may take the first Ctrl-C itself (exec forwards it to the process).
    interrupt_handler: Callable[[], Awaitable[None]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: Appended to a "no such system" error (the tool runs its own, empty hcsim).
    not_found_hint: str | None = None


Command = Callable[[Any, Context], Awaitable[int]]


def describe_error(exc: BaseException) -> str | None:
    """The one-line message for an error the user should see, or None for a bug.

    Never an empty message: an exception without text is named by its class.
    """
    message = _describe(exc)
    if message is not None and not message.strip():
        return type(exc).__name__
    return message


def _describe(exc: BaseException) -> str | None:
    if isinstance(exc, (HcsError, HcsNotAvailableError, HcsimServiceError, CliError)):
        return str(exc)
    if isinstance(exc, _json.JSONDecodeError):
        return f"invalid JSON: {exc}"
    if isinstance(exc, BrokenPipeError):
        return None  # the reader went away: handled once, in main()
    if isinstance(exc, OSError):
        name = f" {exc.filename!r}" if exc.filename else ""
        return f"{exc.strerror or exc}{':' if name else ''}{name}"
    if isinstance(exc, (ValueError, TypeError)) and type(exc).__module__.startswith("pydantic"):
        return f"invalid document: {exc}"
    if isinstance(exc, ValueError):
        return str(exc)
    return None


def leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, or ``[exc]``."""
    inner = getattr(exc, "exceptions", None)
    if isinstance(inner, tuple) and type(exc).__name__.endswith("ExceptionGroup"):
        return [leaf for e in inner for leaf in leaves(e)]
    return [exc]


async def run_reporting(command: Command, args: Any, ctx: Context) -> int:
    """Run ``command``; report a user-facing error as one line and return 1."""
    try:
        return await command(args, ctx)
    except Exception as exc:
        found = leaves(exc)
        messages = [describe_error(leaf) for leaf in found]
        if not messages or any(m is None for m in messages):
            raise
        message = str(messages[0])
        if isinstance(found[0], SystemNotFound) and ctx.not_found_hint and not ctx.in_script:
            message = f"{message}; {ctx.not_found_hint}"
        ctx.out.error(message)
        return 1


def in_flight(operation: str, system_id: str) -> str:
    """The Ctrl-C note for an HCS operation that has been sent."""
    return (
        f"interrupted: the {operation} of {system_id!r} had already been sent to HCS and may "
        f"still complete; 'aiohcs inspect {system_id}' shows the state"
    )


def run(command: Command, args: Any, ctx: Context, *, backend: str = "asyncio") -> int:
    """Run ``command`` on a new event loop with Ctrl-C handling; return the exit code."""
    result = [0]
    interrupted = [False]

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            body = anyio.CancelScope()

            async def run_body() -> None:
                with body:
                    result[0] = await run_reporting(command, args, ctx)
                tg.cancel_scope.cancel()

            async def watch_sigint() -> None:
                try:
                    with open_interrupts() as signals:
                        async for _ in signals:
                            handler = ctx.interrupt_handler
                            if handler is not None:
                                ctx.interrupt_handler = None
                                await handler()
                                continue
                            interrupted[0] = True
                            body.cancel()
                            return
                except (NotImplementedError, RuntimeError, ValueError):
                    return  # no signal handling here: KeyboardInterrupt as usual

            tg.start_soon(run_body)
            tg.start_soon(watch_sigint)

    try:
        anyio.run(main, backend=backend)
    except KeyboardInterrupt:
        interrupted[0] = True
    if interrupted[0]:
        ctx.out.note(ctx.interrupt_note or "interrupted")
        return EXIT_INTERRUPTED
    return result[0]
