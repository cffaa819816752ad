"""``TierFileSystem``: the ``tierfs`` fsspec protocol, a caching wrapper over any filesystem.

It composes the pieces and adds no policy of its own: metadata answers come from
``MetadataCache`` (bounded by ``metadata_ttl``), bytes from ``BlockSource`` (tiered
blocks, fetched on a miss), writes go to the under store and invalidate what they
change. Used directly (``fsspec.filesystem("tierfs", target_protocol="s3", ...)``) or
chained (``tierfs::s3://bucket/key``), following fsspec's wrapper convention.
"""

from __future__ import annotations

import logging
import os

import fsspec
from fsspec import AbstractFileSystem
from fsspec.implementations.chained import ChainedFileSystem

from tierfs.cache import (
    DEFAULTS,
    BlockSource,
    CacheCounters,
    ObjectRef,
    RangeFetcher,
    TieredBlockCache,
    build_tiers,
    object_version,
    parse_tiers,
    store_identity,
)
from tierfs.daemon_client import attach
from tierfs.daemon_client.protocol import DAEMON_ENV
from tierfs.metadata import MetadataCache
from tierfs.read_file import TieredReadFile
from tierfs.sizes import parse_size
from tierfs.write_through import InvalidatingWriter

logger = logging.getLogger(__name__)

WRITE_MODES = ("through",)


class TierFileSystem(ChainedFileSystem):
    protocol = ("tierfs",)
    root_marker = ""

    def __init__(
        self,
        target_protocol: str | None = None,
        target_options: dict | None = None,
        fs: AbstractFileSystem | None = None,
        fo: str | None = None,
        tiers: list[dict] | None = None,
        block_size: int | str | None = None,
        metadata_ttl: float | None = None,
        fetch_concurrency: int | None = None,
        prefetch_blocks: int | None = None,
        write_mode: str = "through",
        daemon: str | None = None,
        daemon_token: str | None = None,
        daemon_fallback: str = "direct",
        short_circuit: bool = True,
        **kwargs,
    ):
        """``fo`` is the chained path fsspec passes for ``tierfs::proto://path``; unused.

        ``daemon`` (or ``$TIERFS_DAEMON``) is the node's cache daemon, an URL or a unix
        socket path: the daemon then owns the persistent tiers and ``tiers`` may hold
        only a private memory tier.
        """
        super().__init__(**kwargs)
        target_options = dict(target_options or {})
        if fs is None:
            if not target_protocol:
                raise ValueError("target_protocol: required (e.g. 's3'), or pass fs=")
            fs = fsspec.filesystem(target_protocol, **target_options)
        self.target = fs
        protocol = target_protocol or _first_protocol(fs)
        self.block_size = parse_size(
            DEFAULTS["block_size"] if block_size is None else block_size, "block_size"
        )
        if self.block_size <= 0:
            raise ValueError(f"block_size: must be positive, got {block_size!r}")
        ttl = DEFAULTS["metadata_ttl"] if metadata_ttl is None else metadata_ttl
        if isinstance(ttl, bool) or not isinstance(ttl, int | float):
            raise ValueError(f"metadata_ttl: expected seconds (0 = always check, -1 = never), "
                             f"got {metadata_ttl!r}")
        concurrency = _positive_int(fetch_concurrency, "fetch_concurrency")
        self.prefetch_blocks = _positive_int(prefetch_blocks, "prefetch_blocks", allow_zero=True)
        if write_mode not in WRITE_MODES:
            raise ValueError(f"write_mode: {write_mode!r} is not one of {', '.join(WRITE_MODES)}")
        self.write_mode = write_mode

        self.counters = CacheCounters()
        self._store = store_identity(protocol, target_options)
        direct = RangeFetcher(fs, concurrency, self.counters)
        daemon = daemon or os.environ.get(DAEMON_ENV)
        attachment = None
        if daemon:
            attachment = attach(
                daemon, store=self._store, memory_tiers=parse_tiers(tiers) if tiers else [],
                direct=direct, counters=self.counters, token=daemon_token,
                fallback=daemon_fallback, short_circuit=short_circuit,
            )
        if attachment is not None:
            self.block_size = attachment.block_size  # keys must match the daemon's
            tier_list, fetcher = attachment.tiers, attachment.fetcher
        else:
            memory_only = [{"medium": "memory", "capacity": DEFAULTS["memory_capacity"]}]
            tier_list = build_tiers(parse_tiers(memory_only if daemon and not tiers else tiers))
            fetcher = direct
        self.daemon = attachment.client if attachment else None
        self.cache = TieredBlockCache(tier_list, self.counters)
        self._source = BlockSource(self.cache, fetcher, self.block_size)
        self._metadata = MetadataCache(float(ttl))

        def _strip_protocol(path):
            # per instance: a path is stripped of "tierfs::"/"tierfs://" and then the target's
            return self.target._strip_protocol(_strip_own_protocol(path))

        self._strip_protocol = _strip_protocol

    # -- metadata --

    def info(self, path: str, **kwargs) -> dict:
        path = self._strip_protocol(path)
        return self._metadata.info(path, lambda: self._fresh_info(path, **kwargs))

    def _fresh_info(self, path: str, **kwargs) -> dict:
        self.target.invalidate_cache(path)  # the target's own listings cache must not outlive ttl
        return self.target.info(path, **kwargs)

    def ls(self, path: str, detail: bool = True, **kwargs):
        path = self._strip_protocol(path)

        def load() -> list[dict]:
            self.target.invalidate_cache(path)
            return self.target.ls(path, detail=True, **kwargs)

        listing = self._metadata.listing(path, load)
        return listing if detail else [entry["name"] for entry in listing]

    def find(self, path: str, maxdepth=None, withdirs=False, detail=False, **kwargs):
        path = self._strip_protocol(path)
        self.target.invalidate_cache(path)
        found = self.target.find(path, maxdepth=maxdepth, withdirs=withdirs, detail=True,
                                 **kwargs)
        for name, entry in found.items():
            self._metadata.remember_info(name, entry)
        return found if detail else sorted(found)

    def invalidate_cache(self, path: str | None = None) -> None:
        if path is None:
            self._metadata.clear()
            self.target.invalidate_cache()
        else:
            path = self._strip_protocol(path)
            self._metadata.invalidate(path)
            self.target.invalidate_cache(path)

    # -- reads --

    def _object(self, path: str) -> ObjectRef:
        path = self._strip_protocol(path)
        info = self.info(path)
        if info.get("type") == "directory":
            raise IsADirectoryError(f"{path}: is a directory")
        return ObjectRef(self._store, path, int(info["size"]), object_version(info))

    def _open(self, path, mode="rb", block_size=None, autocommit=True, cache_options=None,
              **kwargs):
        path = self._strip_protocol(path)
        if "r" in mode:
            return TieredReadFile(self, self._source, self._object(path), path,
                                  self.prefetch_blocks)
        target_file = self.target.open(path, mode, block_size=block_size,
                                       autocommit=autocommit, **kwargs)
        return InvalidatingWriter(target_file, lambda: self._invalidate(path))

    def cat_file(self, path, start=None, end=None, **kwargs) -> bytes:
        obj = self._object(path)
        views = self._source.read(obj, *_normalize_range(obj.size, start, end))
        return b"".join(views)

    def cat_ranges(self, paths, starts, ends, max_gap=None, on_error="return", **kwargs):
        if not (len(paths) == len(starts) == len(ends)):
            raise ValueError("cat_ranges: paths, starts and ends must have the same length")
        results: list = [None] * len(paths)
        requests, slots = [], []
        for slot, (path, start, end) in enumerate(zip(paths, starts, ends, strict=True)):
            try:
                obj = self._object(path)
            except Exception as error:
                if on_error == "raise":
                    raise
                results[slot] = error
                continue
            requests.append((obj, *_normalize_range(obj.size, start, end)))
            slots.append(slot)
        for slot, views in zip(slots, self._source.read_many(requests), strict=True):
            results[slot] = b"".join(views)
        return results

    def cat(self, path, recursive=False, on_error="raise", **kwargs):
        paths = self.expand_path(path, recursive=recursive)
        single = (len(paths) == 1 and isinstance(path, str) and not recursive
                  and not fsspec.core.has_magic(path))
        if single:
            return self.cat_file(paths[0])
        files = [p for p in paths if self.info(p).get("type") != "directory"]
        contents = self.cat_ranges(files, [None] * len(files), [None] * len(files),
                                   on_error="raise" if on_error == "raise" else "return")
        return {
            name: data for name, data in zip(files, contents, strict=True)
            if on_error != "omit" or not isinstance(data, Exception)
        }

    # -- writes: through to the target, then invalidate --

    def _invalidate(self, *paths: str) -> None:
        for path in paths:
            self._metadata.invalidate(path)
            self.target.invalidate_cache(path)

    def pipe_file(self, path, value, **kwargs):
        path = self._strip_protocol(path)
        self.target.pipe_file(path, value, **kwargs)
        self._invalidate(path)

    def put_file(self, lpath, rpath, **kwargs):
        rpath = self._strip_protocol(rpath)
        self.target.put_file(lpath, rpath, **kwargs)
        self._invalidate(rpath)

    def rm_file(self, path):
        path = self._strip_protocol(path)
        self.target.rm_file(path)
        self._invalidate(path)

    def rm(self, path, recursive=False, maxdepth=None):
        paths = [self._strip_protocol(p) for p in ([path] if isinstance(path, str) else path)]
        self.target.rm(paths, recursive=recursive, maxdepth=maxdepth)
        self._invalidate(*paths)

    def cp_file(self, path1, path2, **kwargs):
        path1, path2 = self._strip_protocol(path1), self._strip_protocol(path2)
        self.target.cp_file(path1, path2, **kwargs)
        self._invalidate(path2)

    def mv(self, path1, path2, recursive=False, maxdepth=None, **kwargs):
        path1, path2 = self._strip_protocol(path1), self._strip_protocol(path2)
        self.target.mv(path1, path2, recursive=recursive, maxdepth=maxdepth, **kwargs)
        self._invalidate(path1, path2)

    def mkdir(self, path, create_parents=True, **kwargs):
        path = self._strip_protocol(path)
        self.target.mkdir(path, create_parents=create_parents, **kwargs)
        self._invalidate(path)

    def makedirs(self, path, exist_ok=False):
        path = self._strip_protocol(path)
        self.target.makedirs(path, exist_ok=exist_ok)
        self._invalidate(path)

    def rmdir(self, path):
        path = self._strip_protocol(path)
        self.target.rmdir(path)
        self._invalidate(path)

    def touch(self, path, truncate=True, **kwargs):
        path = self._strip_protocol(path)
        self.target.touch(path, truncate=truncate, **kwargs)
        self._invalidate(path)

    # -- observability --

    def cache_stats(self) -> dict:
        """Counters since this filesystem was created, and per-tier usage right now."""
        stats = self.counters.snapshot()
        stats["corrupt_blocks"] += self.cache.corrupt_blocks()
        stats["tiers"] = self.cache.tier_stats()
        return stats

    def clear_cache(self) -> None:
        """Drop every cached block and metadata answer (counters keep counting)."""
        self.cache.clear()
        self._metadata.clear()


def _strip_own_protocol(path: str) -> str:
    for prefix in ("tierfs::", "tierfs://"):
        if path.startswith(prefix):
            return path[len(prefix):]
    return path


def _first_protocol(fs: AbstractFileSystem) -> str:
    protocol = fs.protocol
    return protocol if isinstance(protocol, str) else protocol[0]


def _positive_int(value, name: str, allow_zero: bool = False) -> int:
    default = DEFAULTS[name]
    value = default if value is None else value
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
    return value


def _normalize_range(size: int, start: int | None, end: int | None) -> tuple[int, int]:
    """fsspec range semantics: None means the ends, negatives count from the end, clamp."""
    start = 0 if start is None else start
    end = size if end is None else end
    if start < 0:
        start = max(0, size + start)
    if end < 0:
        end = max(0, size + end)
    start, end = min(start, size), min(end, size)
    return start, max(start, end)
