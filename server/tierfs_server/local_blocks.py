"""Cached blocks of this node by key, for the two hit paths that skip the tiered cache.

The descriptor server opens a block file and hands the descriptor to a client; the
fast HTTP route reads a verified range (``BlockFiles``: exact bytes once its chunks
were checked, no whole-block reads). Neither promotes, fetches or takes the tiers'
SQLite locks on the way: hits are counted at once, and handed to the tiers' eviction
statistics (``touch``) in batches by one background thread.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from pathlib import Path

from tierfs.cache import BlockFiles, CacheCounters, CorruptBlock, TieredBlockCache

logger = logging.getLogger(__name__)

_TOUCH_SECONDS = 1.0
SENDFILE_FROM = 256 * 2**10  # smaller ranges: a pread and a write cost less than sendfile's


class LocalBlocks:
    def __init__(self, cache: TieredBlockCache, counters: CacheCounters):
        self._counters = counters
        self._memory = [tier for tier in cache.tiers if not tier.spec.persistent]
        self._directories = [tier for tier in cache.tiers if tier.spec.persistent]
        self._readers = [
            BlockFiles(Path(tier.spec.path) / "blocks", self._corrupt_in(tier))
            for tier in self._directories
        ]
        self._lock = threading.Lock()
        self._touched: Counter[str] = Counter()
        self._stop = threading.Event()
        self._toucher = threading.Thread(target=self._touch_loop, name="tierfs-touch",
                                         daemon=True)
        self._toucher.start()

    def _corrupt_in(self, tier):
        def drop(key: str, error: CorruptBlock) -> None:
            logger.warning("dropping corrupt cached block %s in %s: %s", key, tier.spec.path,
                           error)
            tier.remove(key)
        return drop

    def open(self, key: str, *, hit: bool = True) -> int | None:
        """A new read-only descriptor of the block file of ``key`` (None: in no directory),
        counted as a hit unless not ``hit`` (opened ahead of any read). ``ValueError`` if
        ``key`` is not a block key, so no name can leave the tiers."""
        for reader in self._readers:
            try:
                fd = os.open(reader.location(key), os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            if hit:
                self.hit(key)
            return fd
        return None

    def in_memory(self, key: str) -> bytes | None:
        """The block, if only the memory tier holds it (a copy: the tier may evict it)."""
        for tier in self._memory:
            view = tier.get(key, 0, None)
            if view is not None:
                self.hit(key)
                return bytes(view)
        return None

    def read(self, key: str, start: int, end: int | None) -> memoryview | None:
        """Verified bytes ``[start, end)`` of a cached block, or None if it is not cached."""
        for tier in self._memory:
            view = tier.get(key, start, end)
            if view is not None:
                self._counters.add("hits")
                return view
        for reader in self._readers:
            view = reader.read(key, start, end)
            if view is not None:
                self.hit(key)
                return view
        return None

    def span(self, key: str, start: int, end: int | None
             ) -> memoryview | tuple[int, int, int] | None:
        """Like ``read``, but a range of at least ``SENDFILE_FROM`` bytes of a block file
        comes as (new descriptor, file offset, length), its chunks verified, to be sent
        by ``sendfile``: the bytes are copied once, by the kernel, instead of three times."""
        length = None if end is None else end - start
        if length is not None and length < SENDFILE_FROM:
            return self.read(key, start, end)
        for reader in self._readers:  # before memory: a copy there costs more than sendfile
            span = reader.checked_span(key, start, end)
            if span is not None:
                self.hit(key)
                return span
        return self.read(key, start, end)

    def hit(self, key: str) -> None:
        self._counters.add("hits")
        with self._lock:
            self._touched[key] += 1

    def _touch_loop(self) -> None:
        while not self._stop.wait(_TOUCH_SECONDS):
            self.flush()

    def flush(self) -> None:
        with self._lock:
            touched, self._touched = self._touched, Counter()
        for key in touched:
            for tier in self._directories:
                tier.touch(key)

    def close(self) -> None:
        self._stop.set()
        self.flush()
        for reader in self._readers:
            reader.forget_all()
