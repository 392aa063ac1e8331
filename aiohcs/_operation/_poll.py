"""The fast path for operations that complete within microseconds (hcsim; the emulator).

Where operations complete within microseconds and the loop has nothing else to do, the
starting task waits for the completion in C for a short window (``LoopBridge.poll``) and
then yields one turn to the loop, instead of the loop sleeping in its selector until the
wake byte comes. Where operations take milliseconds (Windows: every call is an RPC) the
window stays closed and this path is never taken.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from aiohcs._bridge import LoopBridge
    from aiohcs._operation._waiter import Waiter

__all__ = ["CompletionTime", "completion_time", "poll_completion"]


class CompletionTime:
    """How long operations started on the loop thread take to complete on this host.

    When they complete within microseconds (hcsim, a host that answers from memory) and
    the loop has nothing else to do, a task that starts one waits for the completion in C
    for a short window (:meth:`LoopBridge.poll`) instead of the loop sleeping in its
    selector until the wake byte comes; it then yields one turn to the loop. The same
    result sooner, at the price of the loop noticing I/O up to that window later. The time
    is an exponentially weighted moving average from the start's return to the
    completion's dispatch, so a busy loop (which dispatches late) closes the window too.
    """

    __slots__ = ("average", "enabled")

    #: Poll only while the average is at most this (seconds).
    THRESHOLD: Final = 0.0005
    #: The window: this many times the average, within [MIN_WINDOW, MAX_WINDOW].
    FACTOR: Final = 2.0
    MIN_WINDOW: Final = 0.0001
    MAX_WINDOW: Final = 0.001

    def __init__(self) -> None:
        self.average = 1.0  # no polling until completions have been seen
        #: False turns polling off (benchmarks compare both paths).
        self.enabled = True

    def record(self, seconds: float) -> None:
        """Add one measured completion time to the average."""
        self.average += (seconds - self.average) * 0.2

    def poll_window(self) -> float:
        """Seconds to poll for the next completion, or 0.0 not to poll."""
        average = self.average
        if average > self.THRESHOLD or not self.enabled:
            return 0.0
        return min(self.MAX_WINDOW, max(self.MIN_WINDOW, average * self.FACTOR))


#: The completion time of this process's operations.
completion_time: Final = CompletionTime()


def poll_completion(bridge: LoopBridge, waiter: Waiter) -> bool:
    """Poll for the completion of ``waiter``'s operation, if it pays; True if one came.

    Only for operations started on the loop thread (``waiter.started``), whose completion
    has not come yet, while completions are quick and the loop is idle.
    """
    if not waiter.started or not waiter.pending():
        return False
    window = completion_time.poll_window()
    return bool(window) and bridge.idle(window) and bridge.poll(window) > 0
