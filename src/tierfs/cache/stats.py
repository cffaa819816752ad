"""Counters of the cache, safe to bump from many threads, read as one snapshot."""

from __future__ import annotations

import threading
from collections import Counter

COUNTERS = (
    "hits", "misses", "evictions", "promotions", "demotions", "corrupt_blocks",
    "under_store_bytes", "under_store_requests", "prefetched", "daemon_bytes",
    "daemon_requests", "peer_bytes", "peer_requests", "short_circuit_hits",
)


class CacheCounters:
    def __init__(self):
        self._lock = threading.Lock()
        self._values: Counter[str] = Counter()

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._values[name] += amount

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            unknown = set(self._values) - set(COUNTERS)
            if unknown:
                raise KeyError(f"unknown counters {sorted(unknown)}")
            return {name: self._values[name] for name in COUNTERS}

    def reset(self) -> None:
        with self._lock:
            self._values.clear()
