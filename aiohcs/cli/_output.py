"""Output of the command line tool: tables, JSON, one-line errors and progress."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, TextIO

import anyio

from aiohcs import _json

_SPINNER = "|/-\\"


class Output:
    """Where and how a command prints: plain text or JSON, and whether progress is shown."""

    def __init__(self, out: TextIO, err: TextIO, *, json_mode: bool = False) -> None:
        self.out = out
        self.err = err
        self.json = json_mode

    def with_json(self, json_mode: bool) -> Output:
        """The same streams with another JSON setting."""
        return Output(self.out, self.err, json_mode=json_mode)

    def line(self, text: str = "") -> None:
        """Print one line of plain output."""
        print(text, file=self.out, flush=True)

    def document(self, value: Any, *, lines: bool = False) -> None:
        """Print ``value`` as JSON: pretty, or one compact line with ``lines``."""
        if lines:
            text = _json.write(value, default=str)
        else:
            text = _json.write(value, indent=2, default=str)
        print(text, file=self.out, flush=True)

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Print rows under headers, columns aligned."""
        cells = [[str(h) for h in headers]]
        cells += [["" if c is None else str(c) for c in row] for row in rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
        for row in cells:
            text = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            print(text.rstrip(), file=self.out)
        self.out.flush()

    def properties(self, value: Any) -> None:
        """Print a document: JSON with ``--json``, else one ``Name: value`` line per member."""
        if self.json or not isinstance(value, dict):
            self.document(value)
            return
        width = max((len(str(k)) for k in value), default=0) + 2
        for key, member in value.items():
            if isinstance(member, (dict, list)):
                nested = _json.write(member, indent=2, default=str).replace("\n", "\n  ")
                print(f"{key}:\n  {nested}", file=self.out)
            else:
                text = _json.write(member) if member is None or isinstance(member, bool) else member
                print(f"{str(key) + ':':<{width}}{text}", file=self.out)
        self.out.flush()

    def error(self, message: str) -> None:
        """Print an error as one line on stderr."""
        print(f"aiohcs: error: {_one_line(message)}", file=self.err, flush=True)

    def note(self, message: str) -> None:
        """Print a remark on stderr (never mixed into the data on stdout)."""
        print(f"aiohcs: {_one_line(message)}", file=self.err, flush=True)

    @property
    def shows_progress(self) -> bool:
        """True when progress can be drawn: stderr is a terminal and output is not JSON."""
        isatty = getattr(self.err, "isatty", None)
        return not self.json and callable(isatty) and bool(isatty())

    @asynccontextmanager
    async def progress(self, what: str) -> Any:
        """Show ``what`` with a spinner and the elapsed time while the block runs (TTY only)."""
        if not self.shows_progress:
            yield
            return
        start = anyio.current_time()

        async def spin() -> None:
            for frame in _frames():
                elapsed = anyio.current_time() - start
                self.err.write(f"\r{frame} {what} {elapsed:.1f}s")
                self.err.flush()
                await anyio.sleep(0.1)

        async with anyio.create_task_group() as tg:
            tg.start_soon(spin)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()
                self.err.write("\r\x1b[K")
                self.err.flush()


def _frames() -> Iterator[str]:
    while True:
        yield from _SPINNER


def _one_line(text: str) -> str:
    return " ".join(text.split())
