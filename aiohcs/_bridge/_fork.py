"""After ``os.fork()``: the child starts afresh, the bridges it inherited refuse to work."""

from __future__ import annotations

import os

from aiohcs._bridge._holds import holds
from aiohcs._bridge._registry import every_bridge
from aiohcs._bridge._registry import reset_after_fork as reset_registry
from aiohcs._bridge._warmup import reset_after_fork as reset_warm_up
from aiohcs._bridge._workers import workers

__all__ = ["after_fork_in_child"]


def after_fork_in_child() -> None:
    """Make the bridge usable in a child process after ``os.fork()``.

    Only the forking thread came along: the worker pool starts empty (the C side resets
    its own pool, its locks and hcsim's state). The bridges of the parent's loops are
    inherited: their wake sockets are shared with the parent, and every object of theirs
    refers to HCS handles that do not exist in the child. They are marked, so that any
    use raises :class:`~aiohcs.errors.UsedAfterForkError` instead of waiting for ever;
    a new event loop in the child gets a new bridge (with its own tuning state).
    """
    workers._reset()
    holds.reset_after_fork()
    reset_registry()
    reset_warm_up()
    for bridge in every_bridge():
        bridge.after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=after_fork_in_child)
