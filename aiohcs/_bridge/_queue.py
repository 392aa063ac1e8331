"""The C queue of one loop and its wake socket, and the decoding of drained items."""

from __future__ import annotations

import socket
import threading
from typing import Any

from aiohcs._bridge._items import HAS_HANDLE, HAS_PROCESS_INFO, PAYLOAD_LOST, Item, ProcessInfo
from aiohcs._bridge._resources import typed_resource_errors
from aiohcs._native import ffi, lib

__all__ = ["NativeQueue", "decode_items", "handle_int"]


class NativeQueue:
    """The C queue and socketpair of one loop; freed exactly once (drain task or finalizer)."""

    def __init__(self) -> None:
        """Out of descriptors or memory: :class:`~aiohcs.errors.ResourceExhausted`, nothing made."""
        with typed_resource_errors():
            self.rsock, self.wsock = socket.socketpair()
            try:
                self.rsock.setblocking(False)
                self.wsock.setblocking(False)
                self.queue = lib.aiohcs_queue_new(self.wsock.fileno())
                if self.queue == ffi.NULL:
                    raise MemoryError("aiohcs: cannot allocate the callback queue")
            except BaseException:
                self.rsock.close()
                self.wsock.close()
                raise
        self._lock = threading.Lock()
        self.freed = False
        # Queries holding the queue (see _holds.py), and a free asked for meanwhile.
        self._holds = 0
        self._free_wanted = False

    def hold(self) -> bool:
        """Keep the queue (its undelivered items) until :meth:`unhold`; False if freed."""
        with self._lock:
            if self.freed or self._free_wanted:
                return False
            self._holds += 1
            return True

    def unhold(self) -> None:
        """Let a hold go; the last one makes a free asked for meanwhile (in this thread)."""
        with self._lock:
            self._holds -= 1
            free = self._free_wanted and not self._holds
        if free:
            self.free()

    def free(self) -> None:
        """Free the C queue and close the sockets (idempotent, from any thread).

        While a query holds the queue the free waits for the last hold to go.
        """
        with self._lock:
            if self.freed:
                return
            if self._holds:
                self._free_wanted = True
                return
            self.freed = True
            queue, self.queue = self.queue, ffi.NULL
        # After aiohcs_queue_free returns no callback writes to the socket any more.
        lib.aiohcs_queue_free(queue)
        self.wsock.close()
        self.rsock.close()

    def after_fork(self) -> None:
        """A forked child: the lock may have been held by a thread that did not come along.

        (So were the queries that held the queue.)
        """
        self._lock = threading.Lock()
        self._holds = 0
        self._free_wanted = False


def handle_int(h: Any) -> int:
    """The integer value of a C HANDLE (as Python sees HANDLE values everywhere)."""
    return int(ffi.cast("uintptr_t", h))


def decode_items(items: Any, n: int) -> list[Item]:
    """Decode the first ``n`` drained C items and release their payloads."""
    out: list[Item] = []
    append = out.append
    unpack = ffi.unpack
    null = ffi.NULL
    for i in range(n):
        it = items[i]
        payload = unpack(it.payload, it.payload_length) if it.payload != null else None
        flags = it.flags
        info = None
        if flags & HAS_PROCESS_INFO:
            info = ProcessInfo(
                it.process_id,
                handle_int(it.std_input),
                handle_int(it.std_output),
                handle_int(it.std_error),
            )
        append(
            Item(
                it.id,
                it.kind,
                it.result,
                it.event_type,
                payload,
                bool(flags & PAYLOAD_LOST),
                info,
                it.operation,
                it.timestamp_ns,
                handle_int(it.std_input) if flags & HAS_HANDLE else 0,
                it.callback_result,
            )
        )
    lib.aiohcs_items_release(items, n)
    return out
