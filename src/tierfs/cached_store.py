"""One under store behind the tiered block cache, as the library and the daemon both use it.

``TierFileSystem`` holds one ``CachedStore``, the daemon one per mount: ``info`` answers kept
``metadata_ttl`` seconds, object versions as block keys, uploaded files copied into the tiers,
and ``cache_stats`` assembling the figures both report.
"""

from __future__ import annotations

import logging

from tierfs.cache import BlockSource, CacheCounters, ObjectRef, TieredBlockCache, object_version
from tierfs.metadata import MetadataCache

logger = logging.getLogger(__name__)


class CachedStore:
    """The under store ``target`` (named ``store`` in block keys), its metadata answers and
    the ``source`` of its blocks."""

    def __init__(self, target, store: str, metadata: MetadataCache, source: BlockSource):
        self.target = target
        self.store = store
        self.metadata = metadata
        self.source = source

    def info(self, path: str, keep: bool = True, **kwargs) -> dict:
        """The target's ``info`` of ``path``, as fresh as ``metadata.ttl`` asks."""
        def load() -> dict:
            forget_listings(self.target, path)  # the target's listings cache must obey ttl
            return self.target.info(path, **kwargs)

        return self.metadata.info(path, load, keep)

    def listing(self, path: str, keep: bool, hidden: frozenset[str], **kwargs) -> list[dict]:
        """The target's detailed ``ls`` of ``path``; entries named in ``hidden`` are not kept."""
        def load() -> list[dict]:
            forget_listings(self.target, path)
            return self.target.ls(path, detail=True, **kwargs)

        return self.metadata.listing(path, load, keep=keep, hidden=hidden)

    def find(self, path: str, maxdepth: int | None, withdirs: bool, hidden: frozenset[str],
             **kwargs) -> dict[str, dict]:
        """The target's detailed ``find`` below ``path`` ({} if it has nothing there); the
        answers for names not in ``hidden`` are kept as their ``info``."""
        since = self.metadata.generation
        forget_listings(self.target, path)
        try:
            found = self.target.find(path, maxdepth=maxdepth, withdirs=withdirs, detail=True,
                                     **kwargs)
        except FileNotFoundError:
            return {}
        for name, entry in found.items():
            if name not in hidden:
                self.metadata.remember_info(name, entry, since)
        return found

    def ref(self, path: str, info: dict) -> ObjectRef:
        """The object ``info`` describes: its blocks' keys carry its version."""
        return ObjectRef(self.store, path, int(info["size"]), object_version(info))

    def invalidate(self, *paths: str, tree: bool = False) -> None:
        """Forget what is cached about ``paths``; ``tree``: they were directories, removed."""
        for path in paths:
            self.metadata.invalidate(path, tree)
            forget_listings(self.target, path)

    def cache_uploaded(self, path: str, local_path: str | None) -> None:
        """An uploaded file enters the tiers under its new version, so it reads hot; a
        path removed or renamed away on the target (``local_path`` None) is forgotten
        (the write-back buffer's ``on_uploaded``)."""
        self.invalidate(path)
        if local_path is None:
            return
        try:
            self.source.store_file(self.ref(path, self.info(path)), local_path)
        except (OSError, ValueError) as error:  # the cache is an optimisation: never fail
            logger.debug("could not cache uploaded %s: %s", path, error)


def forget_listings(target, path: str | None = None) -> None:
    """``target.invalidate_cache(path)``, safe beside other threads forgetting the same path:
    fsspec's ``DirCache.pop`` looks an entry up, then deletes it, and the one of two threads
    that loses the race gets ``KeyError`` (seen with the write-back uploader and a reader)."""
    # each lost race means another thread removed one entry of the walk: retry at most
    # once per level of the path, then let an error that is not that race surface
    for _ in range(0 if path is None else path.count("/") + 1):
        try:
            target.invalidate_cache(path)
            return
        except KeyError:
            continue
    target.invalidate_cache(path)


def cache_stats(cache: TieredBlockCache, counters: CacheCounters, sources: list[BlockSource],
                settle_timeout: float | None = None) -> dict:
    """Counters and per-tier usage, once the blocks ``sources`` are still writing to the
    tiers in the background are stored (or ``settle_timeout`` passed for each)."""
    for source in sources:
        source.settle(timeout=settle_timeout)
    stats = counters.snapshot()
    stats["corrupt_blocks"] += cache.corrupt_blocks()
    stats["tiers"] = cache.tier_stats()
    return stats
