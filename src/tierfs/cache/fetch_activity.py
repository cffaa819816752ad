"""Whether the cache is fetching from the under store: the signal background disk work obeys.

One per cache, handed to its tiers and its write-behind queues when they are built and
shared by every block source of the cache (every mount of a daemon): directory tiers write
around the page cache while it is busy or while a caller waits for the stores; deferred
stores and huge-page moves wait for quiet.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from time import monotonic

from tierfs.cache.after_fork import reset_after_fork
from tierfs.cache.pending_jobs import PendingJobs
from tierfs.cache.tuning import TUNING, Tuning

logger = logging.getLogger(__name__)


class FetchActivity:
    def __init__(self, tuning: Tuning = TUNING):
        """Busy while a fetch is under way and ``tuning.quiet_seconds`` after; work waits
        for quiet ``tuning.max_quiet_wait_seconds`` at most (other processes sharing a
        directory wait for it too)."""
        self.quiet_seconds = tuning.quiet_seconds
        self.max_wait_seconds = tuning.max_quiet_wait_seconds
        self.poll_seconds = tuning.quiet_poll_seconds
        self._start_process_state()
        # the parent's fetches are not under way in a child (and its lock may be held)
        reset_after_fork(self, FetchActivity._start_process_state)

    def _start_process_state(self) -> None:
        self._fetches = 0
        self._waiters = 0  # callers waiting for the stores to be done (``awaited``)
        self._last_end = 0.0
        self._changed = threading.Condition()
        self._pending = PendingJobs(self._changed)  # ``when_quiet`` jobs
        self._runner: ThreadPoolExecutor | None = None

    @contextmanager
    def fetching(self) -> Iterator[None]:
        """Around a fetch from the under store."""
        with self._changed:
            self._fetches += 1
        try:
            yield
        finally:
            with self._changed:
                self._fetches -= 1
                self._last_end = monotonic()

    def busy(self) -> bool:
        """Whether a fetch is under way, or paused for less than a gap between reads."""
        return self._fetches > 0 or monotonic() - self._last_end < self.quiet_seconds

    @contextmanager
    def awaited(self) -> Iterator[None]:
        """Around a wait for the background stores to be done."""
        with self._changed:
            self._waiters += 1
        try:
            yield
        finally:
            with self._changed:
                self._waiters -= 1

    def writes_skip_page_cache(self) -> bool:
        """Whether new block files should be written around the page cache: while fetching
        (filling fresh page-cache pages takes the CPU the reader needs) and while a caller
        waits for them (the same, and its wait is what counts; a file written this way
        gets into the page cache when it is first read)."""
        return self._waiters > 0 or self.busy()

    def should_wait(self, since: float) -> bool:
        """Whether work queued at ``since`` (``time.monotonic``) should wait for quiet."""
        return self.busy() and monotonic() - since < self.max_wait_seconds

    def when_quiet(self, job: Callable[[], None]) -> None:
        """Run ``job``, which holds no memory of its own, in the background once quiet."""
        with self._changed:
            if self._runner is None:
                self._runner = ThreadPoolExecutor(1, thread_name_prefix="tierfs-quiet")
            self._pending.jobs += 1
        try:
            self._runner.submit(self._run, job, monotonic())
        except RuntimeError:  # the interpreter is exiting: the job will never run
            self._finished()

    def _run(self, job: Callable[[], None], since: float) -> None:
        with self._changed:
            while not self._pending.draining and self.should_wait(since):
                self._changed.wait(self.poll_seconds)
        try:
            job()
        except Exception:  # noqa: BLE001 - background tuning; reads do not depend on it
            logger.exception("background work after fetching failed")
        finally:
            self._finished()

    def _finished(self) -> None:
        with self._changed:
            self._pending.finished()

    def drain(self, timeout: float | None = None) -> bool:
        """Run every ``when_quiet`` job now, quiet or not, and wait until they are done."""
        return self._pending.drain(timeout)
