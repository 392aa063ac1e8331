"""What several test modules share: the Linux VM configuration and a descriptor count.

The ``linux`` fixture (a started system of this configuration) is in conftest.py.
"""

from __future__ import annotations

import os
from typing import Any

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


def open_fds() -> int:
    """The number of descriptors this process has open (Linux: reads /proc/self/fd)."""
    return len(os.listdir("/proc/self/fd"))
