"""Telling the daemon about hits it never saw: short-circuit reads bypass it entirely.

Without these reports the daemon's eviction policy would see a block read a thousand
times through its files as never used, and evict it first. Hits are batched per key
and sent every ``interval`` seconds by one background thread; a report that fails is
dropped (it only tunes eviction), never retried into a backlog.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter

from tierfs.daemon_client import protocol
from tierfs.daemon_client.client import DaemonClient

logger = logging.getLogger(__name__)

MAX_KEYS_PER_REPORT = 1000  # keeps a report far below the daemon's request size limit


class HitReporter:
    def __init__(self, client: DaemonClient, interval: float = 2.0):
        self.client = client
        self.interval = interval
        self._lock = threading.Lock()
        self._pending: Counter[str] = Counter()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def hit(self, key: str, count: int = 1) -> None:
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's thread and hits are not ours
                self._pid, self._pending, self._thread = os.getpid(), Counter(), None
            if len(self._pending) < MAX_KEYS_PER_REPORT or key in self._pending:
                self._pending[key] += count
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="tierfs-hits",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        stop = threading.Event()
        while not stop.wait(self.interval):
            self.flush()

    def flush(self) -> None:
        with self._lock:
            hits, self._pending = self._pending, Counter()
        if not hits:
            return
        try:
            self.client.call("POST", protocol.HITS, json={"hits": dict(hits)})
        except Exception as error:  # noqa: BLE001 - a lost report only blurs eviction order
            logger.debug("hit report to %s failed: %s", self.client.address, error)
