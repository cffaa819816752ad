"""Storing fetched blocks in the tiers off the reader's path, with bounded memory.

A reader that fetched a block has its bytes; writing them to the ssd tier (checksums,
a file, an index transaction) need not delay it. One background thread does the
stores in order; callers wait only when more than ``max_pending_bytes`` are queued, so
a fast cold read of a huge file never holds more than that in memory.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

logger = logging.getLogger(__name__)


class WriteBehind:
    def __init__(self, max_pending_bytes: int):
        self.max_pending_bytes = max_pending_bytes
        self._start_process_state()

    def _start_process_state(self) -> None:
        self._pid = os.getpid()
        self._pending = 0
        self._changed = threading.Condition()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="tierfs-store")

    def submit(self, size: int, store: Callable[[], None], *, wait: bool = True) -> None:
        """Run ``store`` in the background; wait first while the queue is over its bound.

        ``wait=False`` is for callers on an event loop, which must not block: they may
        overshoot the bound by what they submit."""
        if self._pid != os.getpid():
            self._start_process_state()  # forked: the parent's thread is not ours
        with self._changed:
            if wait:
                self._changed.wait_for(lambda: self._pending == 0
                                       or self._pending + size <= self.max_pending_bytes)
            self._pending += size
        self._executor.submit(self._run, size, store)

    def _run(self, size: int, store: Callable[[], None]) -> None:
        try:
            store()
        except Exception:  # noqa: BLE001 - the cache is an optimisation; the read succeeded
            logger.exception("storing fetched blocks failed")
        finally:
            with self._changed:
                self._pending -= size
                self._changed.notify_all()

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every submitted store has finished."""
        if self._pid != os.getpid():
            return True
        with self._changed:
            return self._changed.wait_for(lambda: self._pending == 0, timeout)
