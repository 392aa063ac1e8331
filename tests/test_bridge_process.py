"""The bridge's process-information path (what aiohcs.process builds on), on hcsim."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import anyio
import anyio.to_thread
import pytest
from helpers import CONTAINER, guest, settle

from aiohcs import _native, testing
from aiohcs._bridge import Item, close_process_handles
from aiohcs._native import ffi, lib, to_wide
from aiohcs.operation import run_operation
from aiohcs.system import ComputeSystem

pytestmark = pytest.mark.anyio


def read_all(handle: int) -> bytes:
    """Everything the pipe ``handle`` from HCS gives up to end of file (it stays open)."""
    chunks = []
    if sys.platform == "win32":
        from aiohcs._pipes._thread import _WindowsIO

        io = _WindowsIO(handle)
        while chunk := io.read(4096):
            chunks.append(chunk)
    else:
        fd = _native.hcsim.HcsimHandleToFd(ffi.cast("HANDLE", handle))
        assert fd >= 0
        while chunk := os.read(fd, 4096):
            chunks.append(chunk)
    return b"".join(chunks)


async def test_create_process_delivers_process_info() -> None:
    async with await ComputeSystem.create("p", CONTAINER) as system:
        await system.start()
        out = ffi.new("HCS_PROCESS *")
        params = to_wide(json.dumps({"CommandArgs": guest("echo hello"), "CreateStdOutPipe": True}))
        handle = system._handle

        def start(op: Any) -> int:
            hr: int = lib.HcsCreateProcess(handle, params, op, ffi.NULL, out)
            return hr

        result = await run_operation(
            start, operation="CreateProcess", system_id="p", process_info=True
        )
        info = result.process_info
        assert info is not None
        assert info.process_id > 0
        assert info.std_output not in (0, -1)
        assert info.std_input in (0, 0xFFFFFFFFFFFFFFFF)
        assert await anyio.to_thread.run_sync(read_all, info.std_output) == b"hello\n"
        close_process_handles(info)
        lib.HcsCloseProcess(out[0])
        await system.terminate()
    assert testing.counts().pipe_handles == 0


async def test_abandoned_create_process_closes_what_it_produced() -> None:
    async with await ComputeSystem.create("p2", CONTAINER) as system:
        await system.start()
        out = ffi.new("HCS_PROCESS *")
        params = to_wide(
            json.dumps(
                {"CommandArgs": guest("exit 0"), "CreateStdOutPipe": True, "CreateStdErrPipe": True}
            )
        )
        handle = system._handle
        late: list[Item] = []

        def start(op: Any) -> int:
            hr: int = lib.HcsCreateProcess(handle, params, op, ffi.NULL, out)
            return hr

        def abandoned(item: Item) -> None:
            late.append(item)
            lib.HcsCloseProcess(out[0])

        testing.delay("HcsCreateProcess", completion_ms=150)
        with anyio.move_on_after(0.02) as scope:
            await run_operation(
                start,
                operation="CreateProcess",
                system_id="p2",
                process_info=True,
                on_abandoned=abandoned,
            )
        assert scope.cancelled_caught
        await settle()
        with anyio.fail_after(5):
            while not late:
                await anyio.sleep(0.005)
        assert late[0].process_info is not None
        # The pipe handles of the late completion were closed by the bridge.
        assert testing.counts().pipe_handles == 0
        assert testing.counts().process_handles == 0
        await system.terminate()
