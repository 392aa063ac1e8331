"""Smoke test of the Windows CPython prepared by tools/wine/run_suite.sh, run under Wine.

Checks, before the suite runs, what every test needs, so that a broken preparation is
one clear message and not a thousand failures:

* pydantic-core loads (it imports bcryptprimitives.dll!ProcessPrng: the shim);
* trio's Windows I/O manager starts and waits for a socket (WSAIoctl with
  SIO_BSP_HANDLE_SELECT: the other shim);
* asyncio's default loop is the Proactor loop, and it waits for a socket too;
* aiohcs imports with its Windows module against the HCS DLLs given to the run.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys


def _check_pydantic() -> str:
    import pydantic_core

    return f"pydantic-core {pydantic_core.__version__}"


def _check_trio() -> str:
    import trio

    async def main() -> None:
        reader, writer = socket.socketpair()
        with reader, writer:
            writer.send(b"x")
            with trio.fail_after(10):
                await trio.lowlevel.wait_readable(reader)

    trio.run(main)
    return f"trio {trio.__version__}"


def _check_asyncio() -> str:
    async def main() -> str:
        loop = asyncio.get_running_loop()
        reader, writer = socket.socketpair()
        with reader, writer:
            reader.setblocking(False)
            writer.send(b"x")
            data = await asyncio.wait_for(loop.sock_recv(reader, 1), 10)
        assert data == b"x", data
        return type(loop).__name__

    name = asyncio.run(main())
    assert name == "ProactorEventLoop", name
    return f"asyncio {name}"


def _check_aiohcs() -> str:
    sys.path.insert(0, os.getcwd())  # run from the repository root
    from aiohcs import _hcs, _native  # type: ignore[attr-defined,unused-ignore]

    _native.lib.HcsGetServiceProperties  # noqa: B018 (resolves the export)
    return f"aiohcs: {_hcs.__file__}, IS_EMULATOR={_native.IS_EMULATOR}"


def main() -> None:
    """Run every check; print one line each, exit 1 at the first failure."""
    assert sys.platform == "win32", sys.platform
    for check in (_check_pydantic, _check_trio, _check_asyncio, _check_aiohcs):
        try:
            detail = check()
        except Exception as exc:
            print(f"smoke: {check.__name__[7:]}: FAILED: {exc!r}")
            raise SystemExit(1) from exc
        print(f"smoke: {detail}")


if __name__ == "__main__":
    main()
