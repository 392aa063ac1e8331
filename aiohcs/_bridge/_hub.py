"""The bridge of a loop as its parts see it: what they may read of it and ask of it.

:class:`~aiohcs._bridge._core.LoopBridge` is the one implementation. The parts of the bridge
that it is built from (admission, the warm-up, parked tasks, posted calls) type their
bridge with this protocol, so that they depend on what they use and not on the module that
composes them (the import graph of ``aiohcs/`` has no cycle, type-only ones included).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import anyio

from aiohcs._bridge._backends import LoopBackend
from aiohcs._bridge._items import Target

__all__ = ["Hub"]


class Hub(Protocol):
    """What the parts of a bridge read of it and ask of it."""

    #: Set while a task of this loop has the schema models loaded.
    warming: anyio.Event | None

    @property
    def backend(self) -> LoopBackend:
        """What differs between asyncio and trio, for this loop."""
        ...

    @property
    def closed(self) -> bool:
        """True once the loop has shut down."""
        ...

    def register(self, target: Target, flags: int = 0) -> int:
        """Register ``target`` and return its new id."""
        ...

    def unregister(self, ident: int) -> None:
        """Forget ``ident`` on both sides."""
        ...

    def forget(self, ident: int) -> None:
        """Forget ``ident`` on the Python side only."""
        ...

    def submit_job(
        self, fn: Callable[..., None], *args: Any, on_drop: Callable[[], None] | None = None
    ) -> None:
        """Have a worker thread run ``fn(*args)`` soon."""
        ...
