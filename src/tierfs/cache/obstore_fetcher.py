"""Cold block fetches through obstore (Rust's object_store) where the under store is S3.

s3fs stays the under store for listings, metadata, probes and writes; only the ranged GETs
of missing blocks go through obstore, whose requests run outside the GIL and whose buffers
reach the tiers without a copy into ``bytes``. The s3fs options are translated; where one
cannot be, the filesystem keeps s3fs's own ranged reads (logged once, by option name only).
"""

from __future__ import annotations

import logging

from s3fs import S3FileSystem

from tierfs.cache.fetcher import BlockRequest, Fetcher, RangeFetcher
from tierfs.cache.stats import CacheCounters
from tierfs.s3_obstore import (
    ObstoreS3,
    UntranslatableOption,
    obstore_usable,
    translate_s3_options,
)

logger = logging.getLogger(__name__)

COLD_FETCHERS = ("auto", "obstore", "s3fs")


class ObstoreFetcher:
    """Blocks through obstore; through s3fs in a process forked after obstore ran here."""

    def __init__(self, ranges: ObstoreS3, fallback: Fetcher, concurrency: int,
                 counters: CacheCounters):
        self.ranges = ranges
        self._obstore = RangeFetcher(ranges, concurrency, counters)
        self._fallback = fallback

    def fetch(self, requests: list[BlockRequest]) -> list:
        if obstore_usable():
            return self._obstore.fetch(requests)
        return self._fallback.fetch(requests)


def build_cold_fetcher(choice: str, target, concurrency: int,
                       counters: CacheCounters) -> Fetcher:
    """The fetcher of blocks from ``target``, per ``cold_fetcher``: ``"obstore"`` (an s3
    target whose options translate), ``"s3fs"`` (the target's own ranged reads) or
    ``"auto"`` (obstore where it can, else the target's own, logged once)."""
    if choice not in COLD_FETCHERS:
        raise ValueError(f"cold_fetcher: {choice!r} is not one of {', '.join(COLD_FETCHERS)}")
    direct = RangeFetcher(target, concurrency, counters)
    if choice == "s3fs":
        return direct
    if not isinstance(target, S3FileSystem):
        if choice == "obstore":
            raise ValueError("cold_fetcher: 'obstore' needs an s3 target")
        return direct
    try:
        config, client_options = translate_s3_options(target.storage_options)
    except UntranslatableOption as error:
        if choice == "obstore":
            raise ValueError(f"cold_fetcher: 'obstore' cannot translate s3 option {error}") \
                from None
        logger.info("tierfs: cold reads through s3fs: obstore has no equivalent of "
                    "option %s", error)
        return direct
    ranges = ObstoreS3(target.split_path, config, client_options)
    return ObstoreFetcher(ranges, direct, concurrency, counters)

