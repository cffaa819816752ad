"""A time-bounded cache of ``info`` and ``ls`` answers from the under store.

``ttl`` seconds bound how stale an answer may be: 0 asks the store every time, a
negative ttl keeps answers until they are invalidated. Writes through tierfs
invalidate the path and its parent listing, so this process always sees its own writes.
Missing paths are never cached: a file created elsewhere appears on the next call.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class MetadataCache:
    def __init__(self, ttl: float):
        self.ttl = ttl
        self._lock = threading.Lock()
        self._infos: dict[str, tuple[float, dict]] = {}
        self._listings: dict[str, tuple[float, list[dict]]] = {}

    def _fresh(self, stamp: float) -> bool:
        return self.ttl < 0 or time.monotonic() - stamp < self.ttl

    def peek(self, path: str) -> dict | None:
        """The cached answer for ``path`` if it is still fresh; never asks the store."""
        with self._lock:
            entry = self._infos.get(path)
        return entry[1] if entry is not None and self._fresh(entry[0]) else None

    def info(self, path: str, load: Callable[[], dict]) -> dict:
        cached = self.peek(path)
        if cached is not None:
            return cached
        info = load()
        self.remember_info(path, info)
        return info

    def listing(self, path: str, load: Callable[[], list[dict]]) -> list[dict]:
        with self._lock:
            entry = self._listings.get(path)
        if entry is not None and self._fresh(entry[0]):
            return entry[1]
        listing = load()
        if self.ttl != 0:
            now = time.monotonic()
            with self._lock:
                self._listings[path] = (now, listing)
                for item in listing:
                    self._infos[item["name"]] = (now, item)
        return listing

    def remember_info(self, path: str, info: dict) -> None:
        if self.ttl != 0:
            with self._lock:
                self._infos[path] = (time.monotonic(), info)

    def invalidate(self, path: str) -> None:
        """Forget ``path``, everything below it, and the listing of its parent."""
        path = path.rstrip("/")
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        prefix = path + "/"
        with self._lock:
            for table in (self._infos, self._listings):
                for cached in [p for p in table if p == path or p.startswith(prefix)]:
                    del table[cached]
            self._listings.pop(parent, None)
            self._listings.pop(parent + "/", None)

    def clear(self) -> None:
        with self._lock:
            self._infos.clear()
            self._listings.clear()
