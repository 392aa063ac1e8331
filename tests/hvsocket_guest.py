"""The guest program of tests/test_hvsocket.py: runs inside an hcsim compute system.

It talks to the host over :mod:`aiohcs.hvsocket`'s guest side (which needs no native
binding). One step per run:

``serve SERVICE``
    Listen for SERVICE, print ``listening``, accept one connection, read a line and answer
    ``guest got: LINE``.
``dial SERVICE``
    Connect to the host's listener of SERVICE, send ``hello from the guest``, print the
    answer line.
``dir``
    Print ``HCSIM_HVSOCKET_DIR``.

An error prints its class name on stderr and exits with 3.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import anyio

from aiohcs import hvsocket


def _say(text: str) -> None:
    """``text`` and a newline on stdout (binary: no CRLF on Windows)."""
    sys.stdout.buffer.write(text.encode() + b"\n")
    sys.stdout.buffer.flush()


def _line(recv: Callable[[int], bytes]) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def serve(service: str) -> None:
    with hvsocket.guest_listener(service) as listener:
        _say("listening")
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"guest got: " + _line(conn.recv))


async def dial(service: str) -> None:
    async with await hvsocket.guest_connect(service) as stream:
        await stream.send(b"hello from the guest\n")
        answer = b""
        while not answer.endswith(b"\n"):
            answer += await stream.receive()
    _say(answer.decode().strip())


def main(step: str, *args: str) -> None:
    try:
        if step == "serve":
            serve(args[0])
        elif step == "dial":
            anyio.run(dial, args[0])
        elif step == "dir":
            _say(os.environ.get(hvsocket.HVSOCKET_DIR_ENV, ""))
        else:
            raise SystemExit(f"unknown step {step!r}")
    except Exception as exc:
        print(type(exc).__name__, exc, file=sys.stderr, flush=True)
        sys.exit(3)


if __name__ == "__main__":
    main(*sys.argv[1:])
