"""Which bridge serves the running event loop: made on first use, one per loop."""

from __future__ import annotations

import threading
import weakref

from aiohcs._bridge._backends import loop_token
from aiohcs._bridge._core import LoopBridge
from aiohcs._bridge._resources import typed_resource_errors

__all__ = ["current_bridge", "every_bridge", "reset_after_fork"]

# Loop token -> its bridge. Neither side keeps the loop alive: the map is weak on the loop,
# and holds the bridge weakly too (the bridge is kept alive by its drain task, which the
# loop owns), so a loop that is dropped without clean-up takes its bridge with it and the
# finalizers below free the C queue.
_bridges: weakref.WeakKeyDictionary[object, weakref.ref[LoopBridge]] = weakref.WeakKeyDictionary()
_bridges_lock = threading.Lock()
# Every bridge alive, also those of loops that have ended (their objects may outlive them).
_every_bridge: weakref.WeakSet[LoopBridge] = weakref.WeakSet()


def current_bridge() -> LoopBridge:
    """Return the bridge of the running event loop, starting it on first use."""
    _, token = loop_token()
    ref = _bridges.get(token)
    bridge = ref() if ref is not None else None
    if bridge is None:
        with _bridges_lock:
            ref = _bridges.get(token)
            bridge = ref() if ref is not None else None
            if bridge is None:
                # Out of descriptors, memory or threads: ResourceExhausted, and nothing is
                # left made (no socket, no C queue, no mapping); the next call tries again.
                bridge = LoopBridge()
                try:
                    with typed_resource_errors():
                        bridge._start()
                except BaseException:
                    bridge._native.free()
                    raise
                _bridges[token] = weakref.ref(bridge)
                _every_bridge.add(bridge)
                # If the loop (or the bridge) dies without the drain task's clean-up (an
                # asyncio loop closed with the task still pending), free the C queue then.
                weakref.finalize(token, bridge._native.free)
                weakref.finalize(bridge, bridge._native.free)
    if bridge.closed:
        raise bridge.closed_error()
    return bridge


def every_bridge() -> list[LoopBridge]:
    """Every bridge alive in this process (also those of loops that have ended)."""
    return list(_every_bridge)


def reset_after_fork() -> None:
    """A forked child: the lock may have been held by a thread that did not come along."""
    global _bridges_lock
    _bridges_lock = threading.Lock()
