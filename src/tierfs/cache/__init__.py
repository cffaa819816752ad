"""The block cache engine: tiers, eviction, checksums, single-flight, fetching.

``TieredBlockCache`` composes tiers (``build_tiers``); ``BlockSource`` serves object byte
ranges from it and fetches misses through a ``Fetcher``. This is the package's public
surface: the library, the daemon and its clients import these names and no submodule.
"""

from tierfs.cache.block_file_tier import BlockFileTier
from tierfs.cache.block_files import BlockFiles
from tierfs.cache.block_format import CorruptBlock
from tierfs.cache.block_key import ObjectRef, block_key, object_version, store_identity
from tierfs.cache.block_source import BlockSource
from tierfs.cache.config import DEFAULTS, TierSpec, parse_tiers
from tierfs.cache.fetch_activity import FetchActivity
from tierfs.cache.fetcher import BlockRequest, Fetcher, ObjectChangedError, RangeFetcher
from tierfs.cache.malloc_arenas import limit_malloc_arenas
from tierfs.cache.obstore_fetcher import build_cold_fetcher, translate_s3_options
from tierfs.cache.stats import CacheCounters
from tierfs.cache.tier import PutOutcome, PutResult, Tier
from tierfs.cache.tiered import TieredBlockCache, build_tiers
from tierfs.cache.tuning import TUNING, Tuning

__all__ = [
    "DEFAULTS", "BlockFileTier", "BlockFiles", "BlockRequest", "BlockSource", "CacheCounters",
    "CorruptBlock", "FetchActivity", "Fetcher", "ObjectChangedError", "ObjectRef",
    "PutOutcome", "PutResult", "RangeFetcher", "TUNING", "Tier", "TierSpec",
    "TieredBlockCache", "Tuning", "block_key", "build_cold_fetcher", "build_tiers",
    "limit_malloc_arenas", "object_version", "parse_tiers", "store_identity",
    "translate_s3_options",
]
