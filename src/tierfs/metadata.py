"""A time-bounded cache of ``info`` and ``ls`` answers from the under store.

``ttl`` seconds bound how stale an answer may be: 0 asks the store every time, a
negative ttl keeps answers until they are invalidated. Writes through tierfs
invalidate the path and its parent listing, so this process always sees its own writes.
Missing paths are never cached: a file created elsewhere appears on the next call. An
answer loaded while an invalidation happened is returned but not kept (it may predate
the change), which makes read-your-writes hold for concurrent readers too.

With a ``directory`` (next to a persistent tier), ``info`` answers are also kept in a
diskcache there, shared by every process using the tier and surviving restarts: a
restarted reader of warm blocks does not send one HEAD per file first. Its freshness
is wall-clock time, so ``ttl`` holds across processes too; an invalidation removes the
shared entry for the path itself (entries below a removed directory age out by ``ttl``).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable

import diskcache

from tierfs.private_paths import private_directory, private_file

logger = logging.getLogger(__name__)

_SHARED_SIZE_LIMIT = 64 * 2**20


class MetadataCache:
    def __init__(self, ttl: float, directory: str | None = None):
        self.ttl = ttl
        self._lock = threading.Lock()
        self._infos: dict[str, tuple[float, dict]] = {}
        self._listings: dict[str, tuple[float, list[dict]]] = {}
        self._generation = 0  # bumped by every invalidation
        self._shared = None
        if directory is not None and ttl != 0:
            private_file(private_directory(directory) / "cache.db")  # diskcache's index
            self._shared = diskcache.Cache(directory, size_limit=_SHARED_SIZE_LIMIT,
                                           eviction_policy="least-recently-stored")

    def _fresh(self, stamp: float) -> bool:
        return self.ttl < 0 or time.monotonic() - stamp < self.ttl

    def peek(self, path: str) -> dict | None:
        """The cached answer for ``path`` if it is still fresh; never asks the store."""
        with self._lock:
            entry = self._infos.get(path)
        if entry is not None and self._fresh(entry[0]):
            return entry[1]
        return self._peek_shared(path)

    def last_known(self, path: str) -> dict | None:
        """The last answer seen for ``path``, however old (a guess to revalidate, not to serve)."""
        with self._lock:
            entry = self._infos.get(path)
        if entry is None and self._shared is not None:
            entry = self._shared.get(path)
        return None if entry is None else entry[1]

    def _peek_shared(self, path: str) -> dict | None:
        if self._shared is None:
            return None
        entry = self._shared.get(path)
        if entry is None:
            return None
        age = max(0.0, time.time() - entry[0])
        stamp = time.monotonic() - age  # the same age, on this process's clock
        if not self._fresh(stamp):
            return None
        with self._lock:
            self._infos[path] = (stamp, entry[1])
        return entry[1]

    @property
    def generation(self) -> int:
        """Take it before asking the store; pass it as ``since`` to keep what it answered."""
        return self._generation

    def info(self, path: str, load: Callable[[], dict], keep: bool = True) -> dict:
        """The cached answer, else ``load()``'s (kept unless ``keep`` is False)."""
        cached = self.peek(path) if keep else None
        if cached is not None:
            return cached
        since = self._generation
        info = load()
        if keep:
            self.remember_info(path, info, since)
        return info

    def listing(self, path: str, load: Callable[[], list[dict]], keep: bool = True,
                hidden: frozenset[str] = frozenset()) -> list[dict]:
        """The cached listing, else ``load()``'s; ``hidden`` names are never kept as infos."""
        with self._lock:
            entry = self._listings.get(path) if keep else None
        if entry is not None and self._fresh(entry[0]):
            return entry[1]
        since = self._generation
        listing = load()
        if self.ttl != 0:
            now = time.monotonic()
            with self._lock:
                if since == self._generation:
                    if keep:
                        self._listings[path] = (now, listing)
                    for item in listing:
                        if item["name"] not in hidden:
                            self._infos[item["name"]] = (now, item)
        return listing

    def remember_info(self, path: str, info: dict, since: int) -> None:
        """Keep ``info``, unless an invalidation happened after generation ``since``."""
        if self.ttl == 0:
            return
        with self._lock:
            stored_at = self._generation
            if since != stored_at:
                return
            self._infos[path] = (time.monotonic(), info)
        if self._shared is not None:
            try:
                self._shared.set(path, (time.time(), info))
            except (sqlite3.OperationalError, OSError) as error:  # a full disk, say
                logger.warning("metadata cache %s: cannot keep info of %s (%s); it stays in "
                               "memory only", self._shared.directory, path, error)
                return
            if self._generation != stored_at:  # invalidated while it was being stored
                self._shared.delete(path)

    def invalidate(self, path: str, tree: bool = False) -> None:
        """Forget ``path``, everything below it, and the listing of its parent.

        ``tree`` (a removed or renamed directory) also drops the shared entries below it,
        which costs a scan of the shared cache: skipped for a path last seen as a file.
        """
        path = path.rstrip("/")
        if tree:
            known = self.last_known(path)
            tree = known is None or known.get("type") != "file"
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        prefix = path + "/"
        with self._lock:
            self._generation += 1
            for table in (self._infos, self._listings):
                for cached in [p for p in table if p == path or p.startswith(prefix)]:
                    del table[cached]
            self._listings.pop(parent, None)
            self._listings.pop(parent + "/", None)
        if self._shared is not None:
            self._shared.delete(path)
            if tree:
                for key in list(self._shared.iterkeys()):
                    if isinstance(key, str) and key.startswith(prefix):
                        self._shared.delete(key)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._infos.clear()
            self._listings.clear()
        if self._shared is not None:
            self._shared.clear()
