"""What the bridge of a loop learns about this host: how long starts and completions take.

Both are per loop (one of each on every :class:`~aiohcs._bridge.LoopBridge`): a loop that
is busy measures longer times, and a child process after ``os.fork()`` starts afresh with
its new loop's bridge.
"""

from __future__ import annotations

from typing import Final

__all__ = ["CompletionTime", "StartCost"]


class StartCost:
    """How long the synchronous part of starting an operation takes on this host.

    Starting an operation is normally quick (on Windows an RPC that only queues the work),
    so it runs on the loop thread. If the host gets slow (a loaded compute service, or hcsim
    with a synchronous delay), the calls move to worker threads so the loop keeps
    responding. The cost is an exponentially weighted moving average of calls made on the
    loop thread only (a call in a worker thread also measures its wait for the GIL, which
    would keep the average high for ever); while calls go to threads, one in
    :attr:`PROBE_EVERY` still runs on the loop to notice when the host is fast again.
    """

    __slots__ = ("average", "skipped")

    #: Above this average (seconds), starting calls run in worker threads.
    THRESHOLD: Final = 0.0008
    PROBE_EVERY: Final = 8

    def __init__(self) -> None:
        self.average = 0.0
        self.skipped = 0

    def record(self, seconds: float) -> None:
        """Add one measured start to the average."""
        self.average += (seconds - self.average) * 0.2

    def use_thread(self) -> bool:
        """True if the next starting call should run in a worker thread."""
        if self.average <= self.THRESHOLD:
            return False
        self.skipped += 1
        if self.skipped >= self.PROBE_EVERY:
            self.skipped = 0
            return False
        return True


class CompletionTime:
    """How long operations started on the loop thread take to complete on this host.

    When they complete within microseconds (hcsim, a host that answers from memory) and
    the loop has nothing else to do, a task that starts one waits for the completion in C
    for a short window (``LoopBridge.poll``) instead of the loop sleeping in its
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
