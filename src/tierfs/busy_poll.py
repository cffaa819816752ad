"""Waiting for a socket by polling it for a few microseconds before sleeping in ``recv``.

On a virtual machine a vCPU that went idle takes tens of microseconds to wake, once on each
side of a loopback round trip, more than a warm 64 KiB hit costs (docs/performance.md).
Like the kernel's ``SO_BUSY_POLL``, a waiter that expects an answer soon asks ``poll(0)``
until the socket is readable or a small budget is spent, then blocks as before. At most
one waiter per spare core polls at once, and a waiter whose polls keep running out (the
answers come slower than the budget: busy cores, slow reads) stops polling for a while,
so polling never takes the cores from the work.
"""

from __future__ import annotations

import os
import select
import ssl
import threading
import time


def _spare_cores() -> int:
    return max(1, len(os.sched_getaffinity(0)) - 1)


_MAX_BACKOFF = 64  # waits without polling after repeated misses, at most


class BusyPoll:
    """Polls for up to ``budget_us`` microseconds per wait (0: never); after a wait that
    polled in vain it skips the next 1, 2, 4 ... 64 waits, until a poll finds data again."""

    def __init__(self, budget_us: int):
        if budget_us < 0:
            raise ValueError(f"busy-poll budget: expected microseconds >= 0, got {budget_us}")
        self._budget = budget_us / 1e6
        self._pollers = threading.BoundedSemaphore(_spare_cores())
        self._backoff = 0  # waits to skip after the latest miss (racy counts are harmless)
        self._skip = 0
        self.figures = {"polls_found": 0, "polls_missed": 0, "polls_skipped": 0}

    def wait(self, sock) -> None:
        """Return once ``sock`` is readable or the budget is spent (a ``recv`` then blocks)."""
        if not self._budget or (isinstance(sock, ssl.SSLSocket) and sock.pending()):
            return
        if self._skip:
            self._skip -= 1
            self.figures["polls_skipped"] += 1
            return
        if not self._pollers.acquire(blocking=False):
            return
        try:
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            deadline = time.perf_counter() + self._budget
            while not (ready := poller.poll(0)) and time.perf_counter() < deadline:
                pass
        finally:
            self._pollers.release()
        if ready:
            self._backoff = 0
            self.figures["polls_found"] += 1
        else:
            self.figures["polls_missed"] += 1
            self._backoff = min(max(1, 2 * self._backoff), _MAX_BACKOFF)
            self._skip = self._backoff
