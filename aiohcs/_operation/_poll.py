"""The fast path for operations that complete within microseconds (hcsim; the emulator).

Where operations complete within microseconds and the loop has nothing else to do, the
starting task waits for the completion in C for a short window (``LoopBridge.poll``) and
then yields one turn to the loop, instead of the loop sleeping in its selector until the
wake byte comes. The bridge's ``completion_time``
(:class:`~aiohcs._bridge._tuning.CompletionTime`) tells when. Where operations take
milliseconds (Windows: every call is an RPC) the window stays closed and this path is
never taken.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohcs._bridge import LoopBridge
    from aiohcs._operation._waiter import Waiter

__all__ = ["poll_completion"]


def poll_completion(bridge: LoopBridge, waiter: Waiter) -> bool:
    """Poll for the completion of ``waiter``'s operation, if it pays; True if one came.

    Only for operations started on the loop thread (``waiter.started``), whose completion
    has not come yet, while completions are quick and the loop is idle.
    """
    if not waiter.started or not waiter.pending():
        return False
    window = bridge.completion_time.poll_window()
    return bool(window) and bridge.idle(window) and bridge.poll(window) > 0
