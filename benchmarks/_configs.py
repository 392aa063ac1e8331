"""The compute system configurations the benchmarks create (importing no aiohcs)."""

from __future__ import annotations

from typing import Any

__all__ = ["CONTAINER", "LINUX"]

#: A container: the cheapest system hcsim makes.
CONTAINER: dict[str, Any] = {
    "SchemaVersion": {"Major": 2, "Minor": 1},
    "Owner": "aiohcs-bench",
    "Container": {"Storage": {"Layers": []}},
}
#: A Linux VM with a guest connection (HCS runs processes in a VM over it).
LINUX: dict[str, Any] = {
    "SchemaVersion": {"Major": 2, "Minor": 1},
    "Owner": "aiohcs-bench",
    "VirtualMachine": {
        "Chipset": {"LinuxKernelDirect": {"KernelFilePath": "/boot/vmlinuz"}},
        "ComputeTopology": {"Memory": {"SizeInMB": 512}, "Processor": {"Count": 1}},
        "Devices": {},
        "GuestConnection": {},
    },
}
