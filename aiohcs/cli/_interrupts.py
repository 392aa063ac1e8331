"""Ctrl-C (SIGINT) as an async stream of events, on every platform and event loop.

anyio's signal receiver needs the loop's ``add_signal_handler``, which asyncio has on POSIX
only: on Windows (the Proactor loop, and the selector loop too) it raises
``NotImplementedError``, and Ctrl-C would then end the program as a ``KeyboardInterrupt``
instead of reaching the command (``aiohcs exec`` forwards it to the guest process).
There, :func:`open_interrupts` installs a SIGINT handler itself, as the loop would: on
Windows the C runtime turns a console's Ctrl-C into SIGINT, the interpreter runs the
handler on the main thread (the loop's, woken through its signal wake-up socket), and the
handler only posts the event to the loop with ``call_soon_threadsafe``. trio's receiver
works on Windows as it is.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from types import FrameType

import anyio
import sniffio
from anyio.streams.memory import MemoryObjectSendStream

__all__ = ["open_interrupts"]


@contextlib.contextmanager
def open_interrupts() -> Iterator[AsyncIterator[object]]:
    """Receive each Ctrl-C of the program during the block (on the main thread only).

    Raises ``NotImplementedError``, ``RuntimeError`` or ``ValueError`` (off the main
    thread) where no receiver can be had: Ctrl-C is then a ``KeyboardInterrupt``.
    """
    if sys.platform == "win32" and sniffio.current_async_library() == "asyncio":
        with _posted_interrupts() as events:
            yield events
    else:
        with anyio.open_signal_receiver(signal.SIGINT) as signals:
            yield signals


@contextlib.contextmanager
def _posted_interrupts() -> Iterator[AsyncIterator[object]]:
    """A SIGINT handler that posts each Ctrl-C to the running asyncio loop."""
    import asyncio

    loop = asyncio.get_running_loop()
    send, receive = anyio.create_memory_object_stream[int](math.inf)

    def post(signum: int, frame: FrameType | None) -> None:
        # (a signal handler: nothing here may wait or touch the loop but through this)
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(_send_if_open, send, signum)

    previous = signal.signal(signal.SIGINT, post)  # (ValueError off the main thread)
    try:
        with send, receive:
            yield receive
    finally:
        # (None: the previous handler was not installed from Python)
        signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)


def _send_if_open(send: MemoryObjectSendStream[int], signum: int) -> None:
    with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
        send.send_nowait(signum)
