"""Operations a blocking query still uses: closing one waits for the query's end.

``TrackedOperation.properties`` runs ``HcsGetOperationProperties`` in a worker thread on
an operation the bridge closes once its completion is handled, or, if the loop ends first,
once the undelivered completion is released. A query takes a hold on the operation (and
on the loop's queue, so that its undelivered items are not released meanwhile); a close
asked for while a hold exists happens when the last hold is let go, in whatever thread
that is. So no HCS call ever uses a closed operation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final

from aiohcs._native import ffi, lib

__all__ = ["close_operation", "hold_operation"]


class _Holds:
    """Counts of holds per operation (its HANDLE value) and the closes they deferred."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[int, int] = {}
        self._deferred: set[int] = set()

    def take(self, op: int) -> None:
        with self._lock:
            self._counts[op] = self._counts.get(op, 0) + 1

    def let_go(self, op: int) -> None:
        with self._lock:
            left = self._counts.pop(op, 1) - 1
            if left:
                self._counts[op] = left
                return
            close = op in self._deferred
            self._deferred.discard(op)
        if close:
            _close(op)

    def close(self, op: int) -> None:
        with self._lock:
            if op in self._counts:
                self._deferred.add(op)
                return
        _close(op)

    def reset_after_fork(self) -> None:
        """A forked child: the lock and the queries were the parent's."""
        self._lock = threading.Lock()
        self._counts = {}
        self._deferred = set()


def _close(op: int) -> None:
    lib.HcsCloseOperation(ffi.cast("HCS_OPERATION", op))


#: The process-wide table (operation handles are unique while open).
holds: Final = _Holds()


def close_operation(op: int) -> None:
    """HcsCloseOperation(op), now or, while a query holds it, when the last one ends."""
    holds.close(op)


def hold_operation(native: Any, op: int) -> Callable[[], None] | None:
    """Hold ``op`` and the loop's queue ``native`` (a NativeQueue) for one query.

    Returns the function that lets both go (call it exactly once, from any thread), or
    None if the queue was already freed (the loop ended: the operation may be closed).
    """
    if not native.hold():
        return None
    holds.take(op)
    done = False
    lock = threading.Lock()

    def release() -> None:
        nonlocal done
        with lock:
            if done:
                return
            done = True
        holds.let_go(op)
        native.unhold()

    return release
