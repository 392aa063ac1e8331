"""``aiohcs script FILE``: several commands in one process (one emulator, one event loop)."""

from __future__ import annotations

import dataclasses
import shlex
import sys
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskStatus

from aiohcs.cli._dispatch import command_for, context_for
from aiohcs.cli._output import Output
from aiohcs.cli._parser import build_parser, parse_command
from aiohcs.cli._runtime import CliError, Context, run, run_reporting

_NOT_IN_SCRIPTS = frozenset({"script", "demo", "hcsim"})


@dataclasses.dataclass
class Line:
    """One command of a script."""

    number: int
    text: str
    argv: list[str]
    background: bool


def split_words(line: str) -> list[str]:
    r"""Split one line into shell-like words ('#' starts a comment).

    On Windows a backslash is a path separator, not an escape: ``C:\x\c.json`` stays one
    path (quotes still group words).
    """
    lexer = shlex.shlex(line, posix=True)
    lexer.whitespace_split = True
    if sys.platform == "win32":
        lexer.escape = ""
    return list(lexer)


def parse_script(text: str) -> list[Line]:
    """Split a script into command lines (shell-like words, '#' comments, trailing '&')."""
    lines: list[Line] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        try:
            words = split_words(raw)
        except ValueError as exc:
            raise CliError(f"line {number}: {exc}") from None
        if not words:
            continue
        background = False
        if words[-1] == "&":
            background, words = True, words[:-1]
        elif words[-1].endswith("&"):
            background, words[-1] = True, words[-1][:-1]
        if not words:
            raise CliError(f"line {number}: '&' without a command")
        lines.append(Line(number, raw.strip(), words, background))
    return lines


async def _run_lines(lines: list[Line], ctx: Context) -> int:
    parser = build_parser()
    base_out, base_namespace = ctx.out, ctx.namespace
    failures: list[tuple[Line, int]] = []
    pending: list[anyio.Event] = []

    async def job(line: Line, command: Any, args: Any, jctx: Context,
                  done: anyio.Event, *, task_status: TaskStatus[None]) -> None:  # fmt: skip
        started = False

        def ready() -> None:
            nonlocal started
            if not started:
                started = True
                task_status.started()

        jctx.ready = ready
        try:
            code = await run_reporting(command, args, jctx)
            if code != 0:
                failures.append((line, code))
        finally:
            done.set()
            ready()

    async def wait_jobs() -> int:
        for done in list(pending):
            await done.wait()
        pending.clear()
        if failures:
            line, code = failures[0]
            base_out.note(f"line {line.number}: background command failed: {line.text}")
            return code
        return 0

    async with anyio.create_task_group() as jobs:
        for line in lines:
            if line.argv == ["wait"]:
                code = await wait_jobs()
            elif line.argv[0] in _NOT_IN_SCRIPTS:
                base_out.error(f"line {line.number}: '{line.argv[0]}' cannot run in a script")
                code = 2
            else:
                try:
                    args = parse_command(parser, line.argv)
                except SystemExit as exc:
                    base_out.note(f"line {line.number}: usage error: {line.text}")
                    code = exc.code if isinstance(exc.code, int) else 2
                else:
                    lctx = context_for(args, base_out, base_namespace)
                    command = command_for(args.command)
                    if line.background:
                        done = anyio.Event()
                        pending.append(done)
                        await jobs.start(job, line, command, args, lctx, done)
                        code = 0
                    else:
                        ctx.out, ctx.namespace = lctx.out, lctx.namespace
                        code = await run_reporting(command, args, ctx)
                        ctx.interrupt_handler = None
                        ctx.interrupt_note = None
                        if code != 0:
                            base_out.note(f"line {line.number} failed: {line.text}")
            if code != 0:
                jobs.cancel_scope.cancel()
                return code
        code = 0
        if failures:
            code = failures[0][1]
        jobs.cancel_scope.cancel()  # background commands still running are stopped
    return code


def run_script(file: str, out: Output, *, namespace: str | None, backend: str) -> int:
    """Run the script in ``file`` (``-``: stdin); return the exit code."""
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        lines = parse_script(text)
    except (OSError, CliError) as exc:
        out.error(f"{file}: {exc.strerror if isinstance(exc, OSError) else exc}")
        return 1
    ctx = Context(out=out, namespace=namespace, in_script=True)

    async def command(_: Any, ctx: Context) -> int:
        return await _run_lines(lines, ctx)

    return run(command, None, ctx, backend=backend)
