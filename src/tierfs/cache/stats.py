"""Counters of the cache, bumped from many threads without a lock, read as one snapshot.

Each thread counts into its own dict (no lock, no lost update) and a snapshot sums them;
counts of threads that ended are folded into one retired dict. A file object counts the
hits of its warm fast path in a ``HitTally`` of its own (read by one thread at a time),
folded into the retired counts when it closes.
"""

from __future__ import annotations

import threading

COUNTERS = (
    "hits", "misses", "evictions", "promotions", "demotions", "corrupt_blocks",
    "under_store_bytes", "under_store_requests", "prefetched", "daemon_bytes",
    "daemon_requests", "peer_bytes", "peer_requests", "short_circuit_hits",
)


def _zeros() -> dict[str, int]:
    return dict.fromkeys(COUNTERS, 0)


class HitTally:
    __slots__ = ("hits",)

    def __init__(self):
        self.hits = 0


class CacheCounters:
    def __init__(self):
        self._lock = threading.Lock()
        self._local = threading.local()
        self._threads: list[tuple[threading.Thread, dict[str, int]]] = []
        self._tallies: set[HitTally] = set()
        self._retired = _zeros()
        self._baseline = _zeros()  # what ``reset`` saw; snapshots count from there

    def add(self, name: str, amount: int = 1) -> None:
        try:
            values = self._local.values
        except AttributeError:
            values = self._register()
        values[name] += amount  # a KeyError names an unknown counter

    def tally(self) -> HitTally:
        """A tally of hits for one file object; ``retire`` it when the file closes."""
        tally = HitTally()
        with self._lock:
            self._tallies.add(tally)
        return tally

    def retire(self, tally: HitTally) -> None:
        with self._lock:
            if tally in self._tallies:
                self._tallies.remove(tally)
                self._retired["hits"] += tally.hits

    def _register(self) -> dict[str, int]:
        values = self._local.values = _zeros()
        with self._lock:
            self._threads.append((threading.current_thread(), values))
        return values

    def _totals_locked(self) -> dict[str, int]:
        """Sum of every thread's counts; folds those of ended threads into ``_retired``."""
        totals = dict(self._retired)
        totals["hits"] += sum(tally.hits for tally in self._tallies)
        alive = []
        for thread, values in self._threads:
            counts = dict(values)  # one C-level copy: consistent enough for a running sum
            for name, value in counts.items():
                totals[name] += value
            if thread.is_alive():
                alive.append((thread, values))
            else:
                for name, value in counts.items():
                    self._retired[name] += value
        self._threads = alive
        return totals

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            totals = self._totals_locked()
            return {name: totals[name] - self._baseline[name] for name in COUNTERS}

    def reset(self) -> None:
        with self._lock:
            self._baseline = self._totals_locked()
