"""What a computestorage call needs of a virtual disk: its raw HANDLE, held open for the call.

The calls of :mod:`aiohcs.storage` that take a ``vhdHandle`` (set up a base OS layer,
format a writable layer VHD, get a layer VHD's mount path) accept any object that
implements :class:`VhdHandleSource`; :class:`aiohcs.vhd.VirtualDisk` is the one aiohcs
provides. A call holds the disk (:meth:`~VhdHandleSource._hold`) before it reads the handle
and releases it once the HCS call has returned, also when its await was cancelled: a disk
closed meanwhile keeps its handle open until then, so HCS never sees a closed (or reused)
handle value.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from aiohcs.errors import InvalidArgumentTypeError

__all__ = ["VhdHandleSource", "check_disk", "held_handle"]


@runtime_checkable
class VhdHandleSource(Protocol):
    """An open virtual disk whose raw HANDLE a computestorage call may use.

    One owner closes the handle, once. While a hold is taken the owner must not close it:
    a close requested then happens (or completes) when the last hold is released. The
    calls hold and release on the thread of their event loop, as compute systems count
    the calls that use their handle from a worker thread.
    """

    def _vhd_handle(self) -> int:
        """The raw HANDLE value; raises :class:`~aiohcs.errors.HandleClosedError` once closed."""
        ...

    def _hold(self) -> None:
        """Keep the handle open until the matching :meth:`_release`.

        Raises :class:`~aiohcs.errors.HandleClosedError` if the disk is closed (or closing).
        """
        ...

    def _release(self) -> None:
        """End one :meth:`_hold` (must not raise)."""
        ...


def check_disk(disk: object, what: str = "vhd") -> VhdHandleSource:
    """``disk`` if it implements :class:`VhdHandleSource`, else InvalidArgumentTypeError."""
    if isinstance(disk, type) or not isinstance(disk, VhdHandleSource):
        raise InvalidArgumentTypeError(
            f"{what} must be an open virtual disk (aiohcs.vhd.VirtualDisk), "
            f"not {type(disk).__name__}"
        )
    return disk


@contextlib.contextmanager
def held_handle(disk: VhdHandleSource) -> Iterator[int]:
    """Hold ``disk`` for the block and give its raw HANDLE value.

    Raises :class:`~aiohcs.errors.HandleClosedError` (nothing held) if it is closed. The
    hold is released when the block ends, however it ends.
    """
    disk._hold()
    try:
        handle = disk._vhd_handle()
        if isinstance(handle, bool) or not isinstance(handle, int):
            raise TypeError(
                f"{type(disk).__name__}._vhd_handle() returned {type(handle).__name__}, not int"
            )
        yield handle
    finally:
        disk._release()
