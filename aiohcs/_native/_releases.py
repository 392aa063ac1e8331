"""Which Windows release introduced each HCS and HCN export (HCS contract §1).

Pure data with no imports, so that ``tools/windows_check.py`` can read it without the
compiled module: the exports of :data:`NEWEST_SDK_RELEASE` are the declarations that the
older mingw-w64 headers lack, left out when the declarations are checked against those.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

WIN10_1809: Final = "Windows 10 1809 / Windows Server 2019"
WIN10_2004: Final = "Windows 10 2004 / Windows Server 2004"
WIN10_2004_WS2022: Final = "Windows 10 2004 / Windows Server 2022"
WIN10_2104: Final = "Windows 10 2104 / Windows Server 2022"
# The exports first declared by the Windows SDK 10.0.26100 (the SDK of Windows 11 24H2 and
# Windows Server 2025). Evidence: Microsoft's HCS reference documents every other export
# with its minimum supported client and server, and has no page for these; mingw-w64 10's
# computecore.h (Debian 12, 2022) lacks them and its current copy of the SDK header (the
# pinned ziglang wheel of tools/windows_module.sh) declares them; microsoft/hcsshim's
# computecore client binds each of them lazily (ERROR_PROC_NOT_FOUND on a build without
# it), HcsCancelLiveMigration included, which no header declares. The first build that
# exports them is not published: the message names the release of the SDK that declares
# them, where they are sure to exist.
NEWEST_SDK_RELEASE: Final = "Windows 11 24H2 / Windows Server 2025"

#: Exports newer than Windows 10 1809 → the first Windows release that has them.
#: Every other declared export exists from 1809 on.
OPTIONAL_EXPORTS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "HcsEnumerateComputeSystemsInNamespace": WIN10_2004,
        "HcsCreateComputeSystemInNamespace": WIN10_2004,
        "HcsOpenComputeSystemInNamespace": WIN10_2004,
        "HcsWaitForComputeSystemExit": WIN10_2104,
        "HcsWaitForProcessExit": WIN10_2104,
        "HcsGetProcessorCompatibilityFromSavedState": WIN10_2104,
        "HcsSetupBaseOSVolume": WIN10_2104,
        "HcsGrantVmGroupAccess": WIN10_2004_WS2022,
        "HcsRevokeVmGroupAccess": WIN10_2004_WS2022,
        "HcsCreateOperationWithNotifications": NEWEST_SDK_RELEASE,
        "HcsAddResourceToOperation": NEWEST_SDK_RELEASE,
        "HcsGetOperationProperties": NEWEST_SDK_RELEASE,
        "HcsInitializeLiveMigrationOnSource": NEWEST_SDK_RELEASE,
        "HcsStartLiveMigrationOnSource": NEWEST_SDK_RELEASE,
        "HcsStartLiveMigrationTransfer": NEWEST_SDK_RELEASE,
        "HcsFinalizeLiveMigration": NEWEST_SDK_RELEASE,
        "HcsCancelLiveMigration": NEWEST_SDK_RELEASE,
        "HcsAttachOverlayFilter": NEWEST_SDK_RELEASE,
        "HcsDetachOverlayFilter": NEWEST_SDK_RELEASE,
        # computenetwork.dll (the Host Compute Network API). Microsoft's HCN reference gives
        # every other export of computenetwork.h, the guest network service and port
        # reservation functions included, "Windows 10, version 1809 / Windows Server 2019"
        # as the minimum supported release (learn.microsoft.com/virtualization/api/hcn/
        # Reference/<name>), so those are in the 1809 default. These two have no reference
        # page; Debian 12's mingw-w64 computenetwork.h (2022) lacks them and the newest
        # copy (the pinned ziglang wheel) declares them, as the Rust windows-sys metadata
        # does from 0.52 (2023) on; hcsshim does not bind them. The first build exporting
        # them is not published, so, as for computecore's newest exports, the message
        # names the release of the SDK that declares them.
        "HcnQueryEndpointStats": NEWEST_SDK_RELEASE,
        "HcnQueryEndpointAddresses": NEWEST_SDK_RELEASE,
    }
)

#: The exports no SDK header declares (aiohcs/include/computecore_extra.cdef): on Windows
#: they are looked up by name at run time, never linked.
UNDECLARED_EXPORTS: Final = frozenset({"HcsCancelLiveMigration"})


def newest_sdk_exports() -> frozenset[str]:
    """The declared exports that only the newest SDK headers have."""
    return frozenset(
        name
        for name, release in OPTIONAL_EXPORTS.items()
        if release == NEWEST_SDK_RELEASE and name not in UNDECLARED_EXPORTS
    )
