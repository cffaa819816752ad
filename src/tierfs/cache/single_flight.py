"""Single-flight: concurrent misses for one block in this process become one fetch.

The first caller for a key becomes the leader and gets a fresh future; everyone who
asks while the flight is open gets the same future and waits on it. The leader
publishes the bytes, stores them in the tiers, and only then closes the flight, so a
caller arriving after the close finds the block in the cache instead of fetching again.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future

from tierfs.cache.after_fork import reset_after_fork


class SingleFlight:
    def __init__(self):
        self._lock = threading.Lock()
        self._flights: dict[str, Future] = {}
        # a forked child inherits flights whose leaders live in the parent: none would end
        reset_after_fork(self, SingleFlight._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._flights = {}

    def in_flight(self, key: str) -> Future | None:
        """The open flight for ``key``, if any; joins nothing (a dict read, no lock)."""
        return self._flights.get(key)

    def join(self, key: str) -> tuple[Future, bool]:
        """The flight's future for ``key`` and whether the caller is its leader."""
        with self._lock:
            future = self._flights.get(key)
            if future is not None:
                return future, False
            future = self._flights[key] = Future()
            return future, True

    def close(self, key: str) -> None:
        with self._lock:
            self._flights.pop(key, None)
