"""Storing fetched blocks in the tiers off the reader's path, with bounded memory.

Two queues: ``submit`` for what must happen soon (the memory-tier copy the next reader
hits; one thread, in order), ``defer`` for what may wait until fetching is quiet
(``FetchActivity``: the ssd write, whose CPU a cold reader would otherwise share; a few
threads, oldest first, so the disk has a write to do while another thread copies and
checksums the next). Callers wait while a queue holds more than its bound of bytes.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from tierfs.cache.fetch_activity import FetchActivity
from tierfs.cache.pending_jobs import PendingJobs

logger = logging.getLogger(__name__)

_SOON, _QUIET = "soon", "quiet"  # the two queues: see the module docstring


class WriteBehind:
    def __init__(self, max_pending_bytes: int, max_deferred_bytes: int, activity: FetchActivity,
                 deferred_workers: int = 1):
        """``defer`` waits while ``activity`` is busy, unless ``max_deferred_bytes`` wait
        (then callers wait for room, as for ``submit``: the writes set a long read's pace);
        ``deferred_workers`` threads run what was deferred."""
        self._bounds = {_SOON: max_pending_bytes, _QUIET: max_deferred_bytes}
        self._activity = activity
        self._deferred_workers = deferred_workers
        self._start_process_state()

    def _start_process_state(self) -> None:
        self._pid = os.getpid()
        self._queued = {_SOON: 0, _QUIET: 0}  # bytes waiting or running, per queue
        self._full = {_SOON: 0, _QUIET: 0}  # callers waiting for room, per queue
        self._changed = threading.Condition()
        self._pending = PendingJobs(self._changed)  # some jobs hold no bytes
        self._executors = {
            _SOON: ThreadPoolExecutor(1, thread_name_prefix="tierfs-store"),
            _QUIET: ThreadPoolExecutor(self._deferred_workers, thread_name_prefix="tierfs-persist"),
        }

    def _check_process(self) -> None:
        if self._pid != os.getpid():
            self._start_process_state()  # forked: the parent's threads are not ours

    def submit(self, size: int, store: Callable[[], None], *, wait: bool = True) -> None:
        """Run ``store`` in the background; wait first while the queue is over its bound.

        ``wait=False`` is for callers on an event loop, which must not block: they may
        overshoot the bound by what they submit."""
        self._enqueue(_SOON, size, store, wait)

    def defer(self, size: int, store: Callable[[], None], *, wait: bool = True) -> None:
        """Run ``store`` in the background once fetching is quiet; wait first while the
        queue is over its bound (its head then runs at once: quiet or not, it must drain).
        ``wait=False`` as for ``submit``."""
        self._enqueue(_QUIET, size, store, wait)

    def _enqueue(self, queue: str, size: int, store: Callable[[], None], wait: bool) -> None:
        self._check_process()
        with self._changed:
            if wait and not self._has_room(queue, size):
                self._full[queue] += 1
                self._changed.notify_all()
                try:
                    self._changed.wait_for(lambda: self._has_room(queue, size))
                finally:
                    self._full[queue] -= 1
            self._queued[queue] += size
            self._pending.jobs += 1
        try:
            self._executors[queue].submit(self._run, queue, size, store, time.monotonic())
        except RuntimeError:  # the interpreter is exiting: the job will never run, and a
            self._finished(queue, size)  # drain must not wait for it
            raise

    def _has_room(self, queue: str, size: int) -> bool:
        queued = self._queued[queue]
        return queued == 0 or queued + size <= self._bounds[queue]

    def _run(self, queue: str, size: int, store: Callable[[], None], queued_at: float) -> None:
        with self._changed:
            while (queue == _QUIET and not self._pending.draining and not self._full[_QUIET]
                   and self._activity.should_wait(queued_at)):
                self._changed.wait(self._activity.poll_seconds)
        try:
            store()
        except Exception:  # noqa: BLE001 - the cache is an optimisation; the read succeeded
            logger.exception("storing fetched blocks failed")
        finally:
            self._finished(queue, size)

    def _finished(self, queue: str, size: int) -> None:
        with self._changed:
            self._queued[queue] -= size
            self._pending.finished()

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every submitted and deferred store has finished."""
        if self._pid != os.getpid():
            return True
        return self._pending.drain(timeout)
