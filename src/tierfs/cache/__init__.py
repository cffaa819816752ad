"""The block cache engine: tiers, eviction, checksums, single-flight, fetching.

``TieredBlockCache`` composes tiers (``MemoryTier``, ``DirectoryTier``); ``BlockSource``
serves object byte ranges from it and fetches misses through a ``RangeFetcher``.
It knows nothing of fsspec paths beyond ``ObjectRef``; ``tierfs.fs`` composes it.
"""

from tierfs.cache.block_key import ObjectRef, object_version, store_identity
from tierfs.cache.block_source import BlockSource
from tierfs.cache.config import DEFAULTS, TierSpec, parse_tiers
from tierfs.cache.fetcher import ObjectChangedError, RangeFetcher
from tierfs.cache.malloc_arenas import limit_malloc_arenas
from tierfs.cache.stats import CacheCounters
from tierfs.cache.tiered import TieredBlockCache, build_tiers

limit_malloc_arenas()  # before fsspec's IO thread allocates blocks: see malloc_arenas

__all__ = [
    "DEFAULTS", "BlockSource", "CacheCounters", "ObjectChangedError", "ObjectRef",
    "RangeFetcher", "TierSpec", "TieredBlockCache", "object_version", "parse_tiers",
    "build_tiers", "store_identity",
]
