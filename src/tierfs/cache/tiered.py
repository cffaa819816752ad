"""The tiered block cache: tiers fastest first, promotion on hits, demotion under pressure.

Placement rules (why they differ from "each block in exactly one tier"):
- the memory tier is private to a process, so it holds *copies*: a block read from a
  persistent tier is copied up into memory and stays where it was, where every other
  process sharing the directory (and the next run) still finds it;
- the persistent tiers (ssd, then disk) are exclusive: a hit on disk moves the block
  to ssd, and a victim pushed out of ssd moves down to disk; out of the last tier it
  leaves the cache.
New blocks go to the memory tier and to the first persistent tier.

Lock order: this class holds no lock of its own; each tier's lock is a leaf and the
counters' lock is taken last.
"""

from __future__ import annotations

from collections.abc import Callable

from tierfs.cache.config import TierSpec
from tierfs.cache.directory_tier import DirectoryTier
from tierfs.cache.eviction import evicts_unhit_first
from tierfs.cache.fetch_activity import FetchActivity
from tierfs.cache.memory_tier import MemoryTier
from tierfs.cache.resident import BlockView
from tierfs.cache.stats import CacheCounters
from tierfs.cache.tier import PutOutcome, PutResult, Tier
from tierfs.cache.tuning import TUNING, Tuning

TIER_KINDS = {"memory": MemoryTier, "ssd": DirectoryTier, "disk": DirectoryTier}


def build_tiers(specs: list[TierSpec], activity: FetchActivity | None = None,
                tuning: Tuning = TUNING) -> list[Tier]:
    """The tiers of one cache, sharing ``activity`` (a new one if None)."""
    activity = activity or FetchActivity(tuning)
    return [TIER_KINDS[spec.medium](spec, activity, tuning) for spec in specs]


def _shared_activity(tiers: list[Tier]) -> FetchActivity:
    """The activity the tiers were built with (read-only views have none)."""
    found = {id(tier.activity): tier.activity for tier in tiers if tier.activity is not None}
    if len(found) > 1:
        raise ValueError("tiers: built by separate build_tiers calls; the tiers of one cache "
                         "share one FetchActivity")
    if found:
        return next(iter(found.values()))
    return FetchActivity()


class TieredBlockCache:
    def __init__(self, tiers: list[Tier], counters: CacheCounters | None = None):
        """``tiers`` fastest first, usually ``build_tiers(parse_tiers(...))``."""
        self.tiers = tiers
        self._top = tiers[0] if tiers else None  # none: a daemon client with no view
        self.counters = counters or CacheCounters()
        # fetching by any block source of this cache holds back its background disk work
        self.activity = _shared_activity(tiers)
        self._memory = next((t for t in self.tiers if not t.spec.persistent), None)
        self._persistent = [t for t in self.tiers if t.spec.persistent]
        self._evictions = [0] * len(self.tiers)
        # whether a fetched block can be stored in some tier of this cache, and in a
        # persistent one (whose copy outlives the memory tier's)
        self.keeps_blocks = any(tier.accepts_blocks for tier in self.tiers)
        self.persists_blocks = bool(self._persistent) and self._persistent[0].accepts_blocks
        self._asking_per_block = [tier for tier in self.tiers if tier.asks_per_block]
        self.asks_per_block = bool(self._asking_per_block)
        # the warm fast path reads views of the fastest tier's blocks only: a hit below it
        # must go the long way, which promotes
        top = self._top
        self.view_of_fastest: Callable[[str], BlockView | None] | None = (
            top.view if top is not None and top.offers_views else None)

    def read_block(self, key: str, start: int, end: int,
                   dest: memoryview | None = None) -> memoryview | None:
        """Bytes ``[start, end)`` of a cached block, promoting it on a lower-tier hit: into
        ``dest`` (the fastest tier reads straight into it) or a view; None if not cached."""
        top = self._top
        if top is not None:
            if dest is None:
                view = top.get(key, start, end)
            else:
                view = dest if top.read_into(key, start, end, dest) else None
            if view is not None:
                self.counters.add("hits")
                return view
        data = self._promote(key)
        if data is None:
            return None
        if dest is None:
            return memoryview(data)[start:end]
        dest[:] = memoryview(data)[start:end]
        return dest

    def _promote(self, key: str) -> memoryview | None:
        """The whole block from a tier below the fastest, copied up (a hit there moves it)."""
        for tier in self.tiers[1:]:
            data = tier.get_block(key)
            if data is not None:
                self._hit_below(key, data, tier)
                return data
        return None

    def opening(self, keys: list[str]) -> None:
        """Tell the tiers that ``asks_per_block`` which blocks begin a file just opened."""
        for tier in self._asking_per_block:
            tier.opening(keys)

    def expect(self, blocks: list[tuple[str, int]]) -> None:
        """Tell every tier which blocks (key, length) a sequential reader reads next."""
        for tier in self.tiers:
            tier.expect(blocks)

    def contains(self, key: str) -> bool:
        """Whether any tier holds ``key``; counts nothing and moves nothing."""
        return any(tier.contains(key) for tier in self.tiers)

    def store(self, key: str, data: bytes) -> None:
        """Insert freshly fetched (and so verified) bytes."""
        self.store_in_memory(key, data)
        self.persist(key, data)

    def room_for_unpersisted(self) -> int:
        """Bytes of new blocks that may wait to be persisted while the memory tier holds
        them: all of it, if its policy evicts new blocks last (not ``lfu``, whose first
        victims are the blocks never hit yet); else none. A streamed file's oldest block is
        then persisted as it leaves the memory tier, as Alluxio demotes (docs/performance.md)."""
        if self._memory is None or evicts_unhit_first(self._memory.spec.eviction):
            return 0
        return self._memory.spec.capacity

    def store_in_memory(self, key: str, data: bytes) -> None:
        """Insert into the memory tier (if any)."""
        if self._memory is not None:
            self._settle(self._memory, self._memory.put(key, data))

    def in_memory(self, key: str) -> bool:
        return self._memory is not None and self._memory.contains(key)

    def persist(self, key: str, data: bytes | memoryview) -> None:
        """Insert into the first persistent tier (if any)."""
        if self._persistent:
            self._settle(self._persistent[0], self._persistent[0].put(key, data))

    def _hit_below(self, key: str, data: memoryview, found_in: Tier) -> None:
        """A hit below the fastest tier: count it and move the block up."""
        self.counters.add("hits")
        self.counters.add("promotions")
        if self._memory is not None:
            self._settle(self._memory, self._memory.put(key, data))
        top = self._persistent[0]
        if found_in is not top:
            self._settle(top, top.put(key, data))
            found_in.remove(key)

    def _settle(self, tier: Tier, outcome: PutOutcome) -> None:
        """Move a put's victims one tier down (persistent tiers only) or out of the cache."""
        if outcome.result is not PutResult.STORED:
            return
        level = self.tiers.index(tier)
        below = self._tier_below(tier)
        for victim in outcome.victims:
            self._evictions[level] += 1
            self.counters.add("evictions")
            try:
                data = victim.read() if below is not None else None
                if data is not None:
                    self.counters.add("demotions")
                    self._settle(below, below.put(victim.key, data))
            finally:
                victim.release()

    def _tier_below(self, tier: Tier) -> Tier | None:
        if not tier.spec.persistent:
            return None  # memory holds copies: its victims are still in a persistent tier
        index = self._persistent.index(tier)
        return self._persistent[index + 1] if index + 1 < len(self._persistent) else None

    def tier_stats(self) -> list[dict]:
        stats = []
        for level, tier in enumerate(self.tiers):
            used, blocks = tier.usage()
            stats.append({
                "medium": tier.spec.medium,
                "path": tier.spec.path,
                "capacity": tier.spec.capacity,
                "used": used,
                "blocks": blocks,
                "evictions": self._evictions[level],
                "eviction_policy": tier.spec.eviction,
            })
        return stats

    def corrupt_blocks(self) -> int:
        return sum(tier.corrupt_blocks for tier in self.tiers)

    def touch(self, key: str) -> None:
        """Count a hit clients made on the tiers' files directly (for eviction order)."""
        for tier in self.tiers:
            tier.touch(key)

    def flush(self) -> None:
        """Write what the tiers batch in memory (access times) now, say at shutdown."""
        for tier in self.tiers:
            tier.flush()

    def clear(self) -> None:
        for tier in self.tiers:
            tier.clear()
