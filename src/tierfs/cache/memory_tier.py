"""The memory tier: verified blocks as read-only buffers in this process, under a hard byte limit.

Blocks are kept as they arrive (no copy) and served as memoryview slices. A block still
read in small pieces ``Tuning.reread_seconds`` after it arrived belongs to a random-access
working set and moves into huge pages once fetching is quiet (``huge_pages``); streamed
blocks and blocks read again whole never pay for the move, which costs more than a large
copy saves (docs/performance.md).
"""

from __future__ import annotations

import threading
import time
from functools import partial

from obstore import Bytes as ObstoreBytes

from tierfs.cache.block_buffers import BUFFERS
from tierfs.cache.config import TierSpec
from tierfs.cache.eviction import EntryStats, sort_key
from tierfs.cache.fetch_activity import FetchActivity
from tierfs.cache.huge_pages import huge_page_copy, worth_moving
from tierfs.cache.malloc_arenas import release_free_memory
from tierfs.cache.resident import MemoryBlockView
from tierfs.cache.tier import PutOutcome, PutResult, Tier, Victim
from tierfs.cache.tuning import TUNING, Tuning

_OWNED_IMMUTABLE = (bytes, ObstoreBytes)


def _kept_as_is(data) -> bool:
    """Whether a block may be kept without a copy: immutable memory of its own, no larger
    than the block (obstore's buffers come from Rust; ``block_buffers``' from disk reads)."""
    if isinstance(data, memoryview):
        whole = isinstance(data.obj, _OWNED_IMMUTABLE) and len(data.obj) == data.nbytes
        return whole or BUFFERS.pooled(data)
    return isinstance(data, _OWNED_IMMUTABLE)


class MemoryTier(Tier):
    """Lock order: the tier lock is a leaf; nothing is called while holding it. It guards
    insertion and eviction; hits read the dicts without it (see ``get``)."""

    accepts_blocks = True
    offers_views = True
    corrupt_blocks = 0  # process memory is not what checksums guard

    def __init__(self, spec: TierSpec, activity: FetchActivity, tuning: Tuning = TUNING):
        """Blocks read again ``tuning.reread_seconds`` after they arrived, in pieces of at
        most ``tuning.huge_page_reads`` bytes, move into huge pages once ``activity`` is
        quiet."""
        self._reread_seconds = tuning.reread_seconds
        self._huge_page_reads = tuning.huge_page_reads
        self.spec = spec
        self.activity = activity
        self._blocks: dict[str, memoryview] = {}
        self._stats: dict[str, EntryStats] = {}
        self._used = 0
        self._coldest_first = sort_key(spec.eviction)
        self._lock = threading.Lock()
        self._reread: set[str] = set()  # blocks whose move was asked for
        # bytes of malloc'd blocks (fetched) that pooled ones (read from disk) pushed out:
        # no fetch reuses their memory while the tier fills from disk
        self._malloc_displaced = 0
        self._trim_bytes = tuning.malloc_trim_bytes

    def get(self, key: str, start: int, end: int) -> memoryview | None:
        # lock-free on purpose: single dict reads are atomic, and a hit racing an eviction
        # still holds its bytes; at worst one access goes uncounted in the policy's stats
        data = self._blocks.get(key)
        if data is None:
            return None
        self._count_hit(key, (len(data) if end is None else end) - start)
        return data[start:end]

    def read_into(self, key: str, start: int, end: int, dest: memoryview) -> bool:
        data = self._blocks.get(key)
        if data is None:
            return False
        dest[:] = data[start:end]
        self._count_hit(key, end - start)
        return True

    def _count_hit(self, key: str, length: int) -> None:
        """Count a hit of ``length`` bytes of block ``key``; ask for its move if it is due."""
        stats = self._stats.get(key)
        if stats is not None:
            now = stats.last_access = time.monotonic()
            stats.hits += 1
            if (length <= self._huge_page_reads and now - stats.inserted >= self._reread_seconds
                    and key not in self._reread):
                self._reread.add(key)  # a racing hit may ask twice: a second move is a no-op
                self.activity.when_quiet(partial(self.move_to_huge_pages, key))

    def view(self, key: str) -> MemoryBlockView | None:
        """A view of block ``key`` for the warm fast path, if this tier holds it."""
        return MemoryBlockView(self._blocks, key, self._count_hit) if key in self._blocks else None

    def get_block(self, key: str) -> memoryview | None:
        with self._lock:
            return self._blocks.get(key)

    def contains(self, key: str) -> bool:
        return key in self._blocks

    def put(self, key: str, data: bytes) -> PutOutcome:
        size = len(data)
        if size > self.spec.capacity:
            return PutOutcome(PutResult.TOO_LARGE)
        if key in self._blocks:
            return PutOutcome(PutResult.ALREADY_PRESENT)
        data = memoryview(data if _kept_as_is(data) else bytes(data)).toreadonly()
        victims = []
        pooled = BUFFERS.pooled(data)
        with self._lock:
            if key in self._blocks:
                return PutOutcome(PutResult.ALREADY_PRESENT)
            while self._used + size > self.spec.capacity:
                coldest = min(self._stats, key=lambda k: self._coldest_first(self._stats[k]))
                evicted = self._pop(coldest)
                if pooled and not BUFFERS.pooled(evicted):
                    self._malloc_displaced += len(evicted)
                victims.append(self._victim(coldest, evicted))
            now = time.monotonic()
            self._blocks[key] = data
            self._stats[key] = EntryStats(last_access=now, inserted=now)
            self._reread.discard(key)  # in case a hit raced this key's eviction
            self._used += size
            trim = self._malloc_displaced >= self._trim_bytes
            if trim:
                self._malloc_displaced = 0
        if trim:
            release_free_memory()
        return PutOutcome(PutResult.STORED, victims)

    def move_to_huge_pages(self, key: str) -> memoryview | None:
        """Copy block ``key`` into huge pages (if not there yet); returns the block."""
        block = self._blocks.get(key)
        if block is None or not worth_moving(block):
            return block
        moved = huge_page_copy(block)  # outside the lock: a copy of megabytes
        with self._lock:
            if self._blocks.get(key) is block:  # not evicted or replaced meanwhile
                self._blocks[key] = moved
                return moved
        return self._blocks.get(key)

    @staticmethod
    def _victim(key: str, data: memoryview) -> Victim:
        return Victim(key, read=lambda: data)

    def _pop(self, key: str) -> memoryview:
        data = self._blocks.pop(key)
        del self._stats[key]
        self._reread.discard(key)
        self._used -= len(data)
        return data

    def remove(self, key: str) -> bool:
        with self._lock:
            if key not in self._blocks:
                return False
            self._pop(key)
            return True

    def usage(self) -> tuple[int, int]:
        with self._lock:
            return self._used, len(self._blocks)

    def clear(self) -> None:
        with self._lock:
            self._blocks.clear()
            self._stats.clear()
            self._reread.clear()
            self._used = 0

