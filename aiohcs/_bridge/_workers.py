"""Python worker threads for blocking calls, and the jobs a loop hands them."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, Final, TypeAlias

from aiohcs._bridge._resources import resource_error

__all__ = ["Job", "WorkerPool", "drop_jobs", "fail_job", "run_detached", "workers"]

# A job for the worker threads: fn, args, and what to run instead if it is dropped.
Job: TypeAlias = "tuple[Callable[..., None], tuple[Any, ...], Callable[[], None] | None]"

_log: Final = logging.getLogger("aiohcs")


class WorkerPool:
    """Threads for blocking calls; they hand results back through the bridge's queue.

    Threads start on demand (up to :attr:`MAX_THREADS`) and end after :attr:`IDLE_SECONDS`
    without work. A job is ``fn(*args)``; it must not raise (jobs report their outcome with
    :c:func:`aiohcs_post`, which wakes the loop that waits for it). These are aiohcs'
    own threads, never HCS threads: running Python on them is fine.
    """

    MAX_THREADS: Final = 40
    IDLE_SECONDS: Final = 10.0

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        # (Also in a child process after fork: the threads did not come along.)
        self._jobs: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]]] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._pending = 0  # jobs queued, not yet taken
        self._waiting = 0  # threads waiting for a job
        self.threads = 0

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        """Queue ``fn(*args)`` for a worker thread (starting one if none is free)."""
        with self._lock:
            self._pending += 1
            spawn = self._pending > self._waiting and self.threads < self.MAX_THREADS
            if spawn:
                self.threads += 1
        if spawn:
            try:
                threading.Thread(target=self._work, name="aiohcs worker", daemon=True).start()
            except BaseException:
                with self._lock:
                    self.threads -= 1
                    alone = self.threads == 0
                    if alone:
                        self._pending -= 1
                if alone:  # nobody would ever run the job
                    raise
        self._jobs.put((fn, args))

    def _work(self) -> None:
        jobs, lock = self._jobs, self._lock
        while True:
            with lock:
                self._waiting += 1
            try:
                fn, args = jobs.get(timeout=self.IDLE_SECONDS)
            except queue.Empty:
                with lock:
                    self._waiting -= 1
                    # Stay if the others waiting cannot take every queued job.
                    if self._pending <= self._waiting:
                        self.threads -= 1
                        return
                continue
            with lock:
                self._waiting -= 1
                self._pending -= 1
            fn(*args)
            del fn, args


#: The process-wide pool for blocking HCS calls (every loop shares it).
workers: Final = WorkerPool()


def _run_detached(fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        fn(*args)
    except Exception:
        _log.exception("aiohcs: a call made while the event loop shut down failed")


def run_detached(fn: Callable[..., Any], *args: Any) -> None:
    """Have a worker thread run ``fn(*args)``, nobody waiting (errors are logged).

    From any thread, with or without a running loop: for finalizers.
    """
    workers.submit(_run_detached, fn, args)


def fail_job(fn: Callable[..., None], args: tuple[Any, ...], exc: Exception) -> None:
    """No worker thread could take the job ``fn(*args)``: have it report a typed error."""
    error = resource_error(exc) or exc

    def call(*_: Any) -> None:
        raise error

    try:
        fn(args[0], call, *args[2:])  # (see LoopBridge.submit_job: reports at once)
    except Exception:
        _log.exception("aiohcs: error while failing a job no thread could take")


def drop_jobs(jobs: list[Job]) -> None:
    """The loop shuts down with jobs not yet handed to a thread.

    A job with ``on_drop`` (an operation start) is dropped and ``on_drop()`` releases it. A
    :func:`run_sync` call still runs, in a worker: it may be the close of a handle, which
    must happen whether or not anybody waits for it (its report is dropped in C).
    """
    for fn, args, on_drop in jobs:
        try:
            if on_drop is not None:
                on_drop()
            else:
                workers.submit(fn, *args)
        except Exception:
            _log.exception("aiohcs: error while dropping a job at loop shutdown")
