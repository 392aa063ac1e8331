"""Calls made on another thread whose outcome comes back through the queue (ITEM_CALL)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aiohcs._bridge._items import REGISTER_POSTED, Item
from aiohcs._bridge._sleeper import Sleeper
from aiohcs._bridge._workers import workers
from aiohcs._native import lib
from aiohcs.errors import BridgeClosedError

if TYPE_CHECKING:
    from aiohcs._bridge._hub import Hub

__all__ = ["CallWaiter", "posted_call", "run_sync_on"]

_T = TypeVar("_T")


class CallWaiter(Sleeper):
    """The target of one :func:`run_sync` or :func:`run_native` call.

    Its outcome arrives as an ITEM_CALL item.
    """

    __slots__ = ("done", "error", "id", "item", "value")

    def __init__(self, bridge: Hub) -> None:
        super().__init__(bridge)
        self.done = False
        self.value: Any = None
        self.error: BaseException | None = None
        self.item: Item | None = None
        self.id = 0

    def _deliver(self, item: Item) -> None:
        self.bridge.forget(self.id)  # (registered POSTED: the C side forgot it)
        self.item = item
        self.done = True
        self._wake()

    def _bridge_closed(self) -> None:
        if not self.done:
            self.done = True
            self.error = BridgeClosedError("the event loop shut down while a call was running")
        self._wake()


def _call_job(waiter: CallWaiter, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        waiter.value = fn(*args)
    except BaseException as exc:  # handed to the waiting task
        waiter.error = exc
    lib.aiohcs_post(waiter.id, 0)


async def posted_call(
    bridge: Hub, submit: Callable[[CallWaiter], None]
) -> tuple[CallWaiter, BaseException | None]:
    """Register a waiter, ``submit(waiter)`` a call that posts to it, wait for the post.

    The wait lasts until the call has reported, whatever cancels the caller meanwhile; that
    cancellation is returned for the caller to raise once it has dealt with the outcome.
    """
    waiter = CallWaiter(bridge)
    waiter.id = bridge.register(waiter, REGISTER_POSTED)
    try:
        submit(waiter)
    except BaseException:
        bridge.unregister(waiter.id)
        raise
    cancelled = await waiter._sleep_until(lambda: waiter.done)
    return waiter, cancelled


async def run_sync_on(
    bridge: Hub,
    fn: Callable[..., _T],
    args: tuple[Any, ...],
    discard: Callable[[_T], None] | None = None,
) -> _T:
    """:func:`~aiohcs._bridge.run_sync` on ``bridge``."""
    waiter, cancelled = await posted_call(
        bridge, lambda waiter: bridge.submit_job(_call_job, waiter, fn, args)
    )
    if cancelled is not None:
        if discard is not None and waiter.error is None:
            workers.submit(discard, waiter.value)
        raise cancelled
    if waiter.error is not None:
        raise waiter.error
    value: _T = waiter.value
    return value
