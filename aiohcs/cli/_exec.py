"""``aiohcs exec``: run a process in a compute system with the terminal's stdio attached."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import stat
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import anyio
import anyio.to_thread

from aiohcs.cli._runtime import Context
from aiohcs.process import DEVNULL, DRAIN_TIMEOUT, PIPE, Process, collect_output
from aiohcs.system import ComputeSystem

_CHUNK = 65536


class ByteSink(Protocol):
    """Where process output goes."""

    def write(self, data: bytes, /) -> int: ...
    def flush(self) -> None: ...


def binary(stream: Any) -> ByteSink:
    """The byte stream behind a text stream (``sys.stdout.buffer``), or a bytes adapter."""
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        sink: ByteSink = buffer
        return sink
    return _TextAsBinary(stream)


class _TextAsBinary:
    """Writes bytes to a text stream (for tests that capture output as text)."""

    def __init__(self, text: Any) -> None:
        self._text = text

    def write(self, data: bytes) -> int:
        self._text.write(data.decode("utf-8", "replace"))
        return len(data)

    def flush(self) -> None:
        self._text.flush()


#: How often the console's size is checked on Windows (no SIGWINCH there).
RESIZE_POLL = 0.25


def console_size(fd: int) -> tuple[int, int]:
    """(height, width) of the terminal on ``fd``; 25x80 if it is not one.

    On Windows a console's size belongs to its output (its input handle has none): for
    stdin, the size of the console on stdout (or stderr) is given.
    """
    fds = (fd, 1, 2) if sys.platform == "win32" and fd == 0 else (fd,)
    for candidate in fds:
        try:
            size = os.get_terminal_size(candidate)
        except OSError:
            continue
        return (size.lines, size.columns)
    return (25, 80)


async def _read(fd: int) -> bytes:
    """Read what ``fd`` has, without blocking the loop (pipes, terminals, files)."""
    if sys.platform == "win32":
        return await anyio.to_thread.run_sync(os.read, fd, _CHUNK, abandon_on_cancel=True)
    else:
        mode = os.fstat(fd).st_mode
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(fd):
            await anyio.wait_readable(fd)
        else:
            await anyio.lowlevel.checkpoint()  # regular files and devices never block long
        return os.read(fd, _CHUNK)


if sys.platform == "win32":
    import ctypes
    import msvcrt
    from ctypes import wintypes

    _kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    _GetConsoleMode = _kernel32.GetConsoleMode
    _GetConsoleMode.argtypes = [wintypes.HANDLE, ctypes.POINTER(wintypes.DWORD)]
    _GetConsoleMode.restype = wintypes.BOOL
    _SetConsoleMode = _kernel32.SetConsoleMode
    _SetConsoleMode.argtypes = [wintypes.HANDLE, wintypes.DWORD]
    _SetConsoleMode.restype = wintypes.BOOL
    # Input: ENABLE_PROCESSED_INPUT | ENABLE_LINE_INPUT | ENABLE_ECHO_INPUT (Ctrl-C, line
    # editing and echo by the local console) off, ENABLE_VIRTUAL_TERMINAL_INPUT on (keys as
    # VT sequences). Output: ENABLE_VIRTUAL_TERMINAL_PROCESSING (the guest's VT sequences).
    _COOKED_INPUT = 0x0001 | 0x0002 | 0x0004
    _VT_INPUT = 0x0200
    _VT_OUTPUT = 0x0004

    def _set_console_mode(fd: int, change: Callable[[int], int]) -> tuple[Any, int] | None:
        """Change the console mode of ``fd``; (handle, previous mode), None if not a console."""
        try:
            handle = msvcrt.get_osfhandle(fd)
        except OSError:
            return None
        mode = wintypes.DWORD()
        if not _GetConsoleMode(handle, ctypes.byref(mode)):
            return None
        if not _SetConsoleMode(handle, change(mode.value)):
            return None
        return handle, mode.value

    @contextlib.contextmanager
    def _raw_console(fd: int) -> Iterator[None]:
        """Console input raw (keys, Ctrl-C included, go to the guest), output VT-aware."""
        changes: list[Callable[[int], int]] = [
            lambda mode: mode & ~_COOKED_INPUT | _VT_INPUT,
            lambda mode: mode & ~_COOKED_INPUT,  # (a console without VT input)
        ]
        saved = []
        for change in changes:
            found = _set_console_mode(fd, change)
            if found is not None:
                saved.append(found)
                break
        found = _set_console_mode(1, lambda mode: mode | _VT_OUTPUT)
        if found is not None:
            saved.append(found)
        try:
            yield
        finally:
            for handle, mode in reversed(saved):
                _SetConsoleMode(handle, mode)


@contextlib.contextmanager
def _raw_terminal(fd: int, enabled: bool) -> Iterator[None]:
    """Put the terminal on ``fd`` in raw mode for the block (keys go to the guest)."""
    if not enabled or not os.isatty(fd):
        yield
    elif sys.platform == "win32":
        with _raw_console(fd):
            yield
    else:
        import termios
        import tty

        saved = termios.tcgetattr(fd)
        try:
            tty.setraw(fd)
            yield
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)


async def _feed_stdin(proc: Process, fd: int) -> None:
    assert proc.stdin is not None
    try:
        while True:
            data = await _read(fd)
            if not data:
                break
            await proc.stdin.send(data)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
        pass  # the process closed its stdin
    finally:
        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
            await proc.stdin.aclose()


def _show(sink: ByteSink, data: bytes) -> None:
    sink.write(data)
    sink.flush()


async def _follow_resize(proc: Process, fd: int) -> None:
    """Resize the guest's console whenever the terminal on ``fd`` is resized."""
    if sys.platform == "win32":
        size = console_size(fd)
        while True:  # (cancelled with the exec)
            await anyio.sleep(RESIZE_POLL)
            now = console_size(fd)
            if now != size:
                size = now
                await proc.resize_console(*now)
    elif hasattr(signal, "SIGWINCH"):
        try:
            receiver = anyio.open_signal_receiver(signal.SIGWINCH)
            with receiver as signals:
                async for _ in signals:
                    height, width = console_size(fd)
                    await proc.resize_console(height, width)
        except (NotImplementedError, RuntimeError, ValueError):
            return


async def run_exec(
    system: ComputeSystem,
    command: Sequence[str],
    ctx: Context,
    *,
    interactive: bool,
    tty: bool,
    cwd: str | None,
    env: Mapping[str, str] | None,
    user: str | None,
    stdin_fd: int,
    stdout: ByteSink,
    stderr: ByteSink,
    drain_timeout: float | None = None,
) -> int:
    """Run ``command`` in ``system`` with stdio attached; return its exit code.

    The first Ctrl-C (without ``tty``; with it the key goes to the guest console) is sent
    to the process as an interrupt; a second one kills it. The exit is reported once the
    output is complete, or ``drain_timeout`` seconds after it (default
    :data:`aiohcs.process.DRAIN_TIMEOUT`) when a background child of the command keeps
    the output pipes open: what arrived until then is shown.
    """
    terminal_fd = stdin_fd if interactive else -1
    size = console_size(terminal_fd if interactive else 1) if tty else None
    proc = await system.open_process(
        list(command),
        stdin=PIPE if interactive else DEVNULL,
        stdout=PIPE,
        stderr=PIPE,
        cwd=cwd,
        env=env,
        user=user,
        console=size,
        drain_timeout=DRAIN_TIMEOUT if drain_timeout is None else drain_timeout,
    )
    ctx.ready()  # attached: a background ('&') exec in a script lets the next line run
    async with proc:

        async def forward_interrupt() -> None:
            ctx.out.note(f"sending an interrupt to process {proc.pid} (Ctrl-C again kills it)")
            await proc.send_signal(signal.SIGINT)

        ctx.interrupt_handler = forward_interrupt
        ctx.interrupt_note = f"interrupted: process {proc.pid} in {system.id!r} was killed"
        try:
            with _raw_terminal(terminal_fd, tty and interactive):
                async with anyio.create_task_group() as side:
                    if tty and interactive:
                        side.start_soon(_follow_resize, proc, stdin_fd)
                    feed = None
                    if interactive and proc.stdin is not None:
                        feed = functools.partial(_feed_stdin, proc, stdin_fd)
                    # The output until the exit is complete, or until the drain timeout
                    # if a background child holds the pipes (the library's drain rule).
                    sinks = {"stdout": stdout, "stderr": stderr}
                    readers = {name: functools.partial(_show, sink) for name, sink in sinks.items()}
                    code = await collect_output(proc, readers, feed)
                    if proc.pipes_not_closed:
                        ctx.out.note(
                            f"process {proc.pid} exited but its "
                            f"{' and '.join(proc.pipes_not_closed)} stayed open (a "
                            "background child?); output after that is not shown"
                        )
                    side.cancel_scope.cancel()
        except BaseException:
            # Our side failed (e.g. the reader of our stdout went away): nobody will read
            # the process's output any more, so it must not be left waiting on a full pipe.
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await proc.kill()
            raise
        ctx.interrupt_handler = None
        ctx.interrupt_note = None
    return code
