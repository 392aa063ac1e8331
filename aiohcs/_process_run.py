"""Running a process to its end: its output collected, or streamed to a callback.

The bodies of ``run_process`` and ``stream_process`` (the functions of
:mod:`aiohcs.process` and the methods of :class:`~aiohcs.system.ComputeSystem`), and
:func:`collect_output`, the pump they and the CLI's ``exec`` share. They work on any
:class:`RunningProcess` (a :class:`~aiohcs.process.Process`), started by the ``start``
function their caller gives.
"""

from __future__ import annotations

import contextlib
import functools
import subprocess
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol

import anyio

from aiohcs import errors
from aiohcs._process_options import (
    PIPE,
    ProcessOptions,
    check_flag,
    check_input,
    check_keywords,
)

if TYPE_CHECKING:
    from types import TracebackType

    from aiohcs._pipes import PipeReceiveStream, PipeSendStream

__all__ = ["ProcessFailed", "RunningProcess", "collect_output", "run", "stream"]

# How long run_process/stream_process go on reading, once the drain grace period ran out,
# what is already in pipes a background child keeps open.
_SWEEP_SECONDS: Final = 0.1


class ProcessFailed(subprocess.CalledProcessError):
    """``run_process(check=True)``: the process exited with a non-zero code.

    ``returncode``, ``cmd``, ``stdout`` and ``stderr`` as in ``CalledProcessError``.
    """


class RunningProcess(Protocol):
    """What running a process to its end uses of it (a Process is one)."""

    stdin: PipeSendStream | None
    stdout: PipeReceiveStream | None
    stderr: PipeReceiveStream | None
    pipes_not_closed: tuple[str, ...]

    @property
    def args(self) -> Any:
        """The command it was started with."""
        ...

    async def wait(self) -> int:
        """Wait for the exit (and the output pipes); return the exit code."""
        ...

    async def __aenter__(self) -> Any: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


#: Starts the process with the keywords of ``open_process``.
Start = Callable[[Mapping[str, Any]], Awaitable[RunningProcess]]


async def collect_output(
    proc: RunningProcess,
    readers: Mapping[str, Callable[[bytes], object]],
    feed: Callable[[], Awaitable[None]] | None = None,
) -> int:
    """Pump the output streams into ``readers``, wait for the exit, return its code.

    The drain rule of :meth:`Process.wait` holds: once the process has exited and its
    output pipes stayed open past ``drain_timeout`` (a background child holds them), the
    reading stops with what was read so far (``wait()`` warns PipesNotClosed). ``feed``
    (writing stdin) stops at the exit: the process reads no more. An error of a reader,
    of a sink or of ``feed`` is raised as it is (never wrapped in an exception group).
    (Shared by :func:`run_process`, :func:`stream_process` and the CLI's ``exec``.)
    """
    streams = {"stdout": proc.stdout, "stderr": proc.stderr}
    failures: list[Exception] = []
    code: int | None = None

    async def pump(stream: PipeReceiveStream, sink: Callable[[bytes], object]) -> None:
        with contextlib.suppress(anyio.EndOfStream):
            while True:
                sink(await stream.receive())

    async with anyio.create_task_group() as tg:

        async def guarded(job: Callable[[], Awaitable[None]], scope: anyio.CancelScope) -> None:
            try:
                with scope:
                    await job()
            except Exception as exc:
                failures.append(exc)
                tg.cancel_scope.cancel()

        for name, sink in readers.items():
            stream = streams[name]
            if stream is not None:
                tg.start_soon(guarded, functools.partial(pump, stream, sink), anyio.CancelScope())
        feeding = anyio.CancelScope()
        if feed is not None:
            tg.start_soon(guarded, feed, feeding)
        code = await proc.wait()
        feeding.cancel()
        if proc.pipes_not_closed:
            # Whatever is already in the pipes is read during a short sweep (a cancelled
            # receive consumes nothing: what comes later stays in the pipe).
            tg.cancel_scope.deadline = anyio.current_time() + _SWEEP_SECONDS
    if failures:
        raise failures[0]
    assert code is not None
    return code


async def run(
    start: Start,
    input: bytes | bytearray | memoryview | None,
    check: bool,
    stdout: int | None,
    stderr: int | None,
    options: ProcessOptions,
) -> subprocess.CompletedProcess[bytes]:
    """The body of ``run_process``: start, feed ``input``, collect the output."""
    check_keywords(options, "run_process")
    data = check_input(input)
    check_flag(check, "check")
    stdin = PIPE if data is not None else None
    proc = await start({**options, "stdin": stdin, "stdout": stdout, "stderr": stderr})
    chunks: dict[str, list[bytes]] = {"stdout": [], "stderr": []}
    async with proc:
        feed = None
        if proc.stdin is not None and data is not None:
            sending, payload = proc.stdin, data

            async def feed() -> None:
                with contextlib.suppress(anyio.BrokenResourceError):
                    await sending.send(payload)
                await sending.aclose()

        code = await collect_output(
            proc, {name: parts.append for name, parts in chunks.items()}, feed
        )
    out = b"".join(chunks["stdout"]) if proc.stdout is not None else None
    err = b"".join(chunks["stderr"]) if proc.stderr is not None else None
    if check and code != 0:
        raise ProcessFailed(code, proc.args, out, err)
    return subprocess.CompletedProcess(proc.args, code, out, err)


async def stream(
    start: Start,
    write: Callable[[str, bytes], object],
    options: ProcessOptions,
) -> int:
    """The body of ``stream_process``: start, hand the output to ``write`` as it comes."""
    check_keywords(options, "stream_process", ("stdout", "stderr"))
    if not callable(write):
        raise errors.InvalidArgumentTypeError(
            f"write must be a callable (name, chunk), not {type(write).__name__}"
        )
    proc = await start({**options, "stdin": None})
    async with proc:
        return await collect_output(
            proc, {name: functools.partial(write, name) for name in ("stdout", "stderr")}
        )
