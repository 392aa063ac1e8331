"""What several test modules share: configurations, a descriptor count, a no-call check.

The Linux VM and Windows container configurations, the number of open descriptors, and a
check that a block makes no HCS call.

The ``linux`` and ``windows`` fixtures (started systems of these configurations) and the
pipe ``engine`` fixture are in conftest.py.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

from aiohcs import errors, testing

if TYPE_CHECKING:
    from aiohcs.system import ComputeSystem

#: A Linux VM: on hcsim its processes run on the host.
LINUX: dict[str, Any] = {
    "SchemaVersion": {"Major": 2, "Minor": 1},
    "Owner": "aiohcs-tests",
    "VirtualMachine": {
        "Chipset": {"LinuxKernelDirect": {"KernelFilePath": "/boot/vmlinuz"}},
        "ComputeTopology": {"Memory": {"SizeInMB": 512}, "Processor": {"Count": 1}},
        "Devices": {},
    },
}
#: A Windows container: on hcsim its command lines are split the Windows way.
WINDOWS: dict[str, Any] = {
    "SchemaVersion": {"Major": 2, "Minor": 1},
    "Owner": "aiohcs-tests",
    "Container": {"Storage": {"Layers": []}},
}


def open_fds() -> int:
    """The number of descriptors this process has open (Linux: reads /proc/self/fd)."""
    return len(os.listdir("/proc/self/fd"))


@contextlib.asynccontextmanager
async def no_hcs_call(system: ComputeSystem) -> AsyncIterator[None]:
    """The block makes no HCS call at all and starts no process.

    A fault is armed for the next call of any HCS function; after the block the system's
    next call must be the one that gets it.
    """
    processes = testing.counts().processes
    testing.fail_next("*", errors.HResult.E_FAIL)
    yield
    assert testing.counts().processes == processes
    with pytest.raises(errors.HcsError) as caught:
        await system.properties()
    assert caught.value.hresult == errors.HResult.E_FAIL, "the block made an HCS call"
