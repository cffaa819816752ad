"""``TierFileSystem``: the ``tierfs`` fsspec protocol, a caching wrapper over any filesystem.

It composes the pieces and adds no policy of its own: metadata answers and blocks come
from a ``CachedStore`` (blocks fetched on a miss, locally or through the node's daemon;
opens probed by ``OpeningInfo``), writes go to a write mode (``WriteThrough`` or
``WriteBack``), which also lays its pending writes over every metadata answer.
Used directly (``fsspec.filesystem("tierfs", target_protocol="s3", ...)``) or chained
(``tierfs::s3://bucket/key``), following fsspec's wrapper convention.
"""

from __future__ import annotations

import copy
import datetime
import os

import fsspec
from fsspec import AbstractFileSystem
from fsspec.implementations.chained import ChainedFileSystem

from tierfs.cache import (
    DEFAULTS,
    BlockSource,
    CacheCounters,
    ObjectRef,
    TieredBlockCache,
    build_cold_fetcher,
    build_tiers,
    parse_tiers,
    store_identity,
)
from tierfs.cached_store import CachedStore, cache_stats
from tierfs.daemon_client import attach
from tierfs.daemon_client.protocol import DAEMON_ENV
from tierfs.daemon_client.remote_buffer import RemoteBuffer
from tierfs.metadata import MetadataCache
from tierfs.probe import OpeningInfo
from tierfs.read_file import TieredReadFile
from tierfs.sizes import parse_size
from tierfs.under_store import open_under_store
from tierfs.write_modes import WriteBack, WriteThrough
from tierfs.writeback import DELETED, Redirect, WriteBackBuffer

WRITE_MODES = ("through", "back")


class TierFileSystem(ChainedFileSystem):
    protocol = ("tierfs",)
    root_marker = ""
    # a chained URL passes its path as ``fo``: one instance (one set of tiers) per store
    # serves every path, as fsspec's own caches do, instead of one per file opened
    _strip_tokenize_options = ("fo",)

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
        buffer_dir: str | None = None,
        buffer_capacity: int | str | None = None,
        buffer_when_full: str = "wait",
        daemon: str | None = None,
        daemon_token: str | None = None,
        daemon_fallback: str = "direct",
        daemon_cafile: str | None = None,
        short_circuit: bool = True,
        cold_fetcher: str | None = None,
        **kwargs,
    ):
        """``fo`` is the chained path fsspec passes for ``tierfs::proto://path``; unused.

        ``daemon`` (or ``$TIERFS_DAEMON``) is the node's cache daemon, an URL or a unix
        socket path: the daemon then owns the persistent tiers and ``tiers`` may hold
        only a private memory tier; ``daemon_cafile`` verifies an ``https://`` daemon.
        ``write_mode="back"`` acknowledges writes once they
        are journaled in ``buffer_dir`` and uploads them in the background.
        ``cold_fetcher`` fetches missing blocks: "auto" (obstore on s3), "obstore", "s3fs".
        """
        super().__init__(**kwargs)
        # a deep copy: botocore rewrites nested dicts (config_kwargs) in place, which would
        # change fsspec's instance-cache key for the caller's next filesystem
        target_options = copy.deepcopy(target_options or {})
        if fs is None:
            if not target_protocol:
                raise ValueError("target_protocol: required (e.g. 's3'), or pass fs=")
            fs = open_under_store(target_protocol, target_options)
        self.target = fs
        self.block_size = parse_size(
            DEFAULTS["block_size"] if block_size is None else block_size, "block_size"
        )
        if self.block_size <= 0:
            raise ValueError(f"block_size: must be positive, got {block_size!r}")
        ttl = DEFAULTS["metadata_ttl"] if metadata_ttl is None else metadata_ttl
        if isinstance(ttl, bool) or not isinstance(ttl, int | float):
            raise ValueError(f"metadata_ttl: expected seconds (0 = always check, -1 = never), "
                             f"got {metadata_ttl!r}")
        self.prefetch_blocks = _positive_int(prefetch_blocks, "prefetch_blocks", allow_zero=True)
        if write_mode not in WRITE_MODES:
            raise ValueError(f"write_mode: {write_mode!r} is not one of {', '.join(WRITE_MODES)}")
        self.counters = CacheCounters()
        store = store_identity(target_protocol or _first_protocol(fs), target_options)
        source = self._build_read_path(
            store, tiers, _positive_int(fetch_concurrency, "fetch_concurrency"),
            daemon or os.environ.get(DAEMON_ENV), daemon_token, daemon_fallback, short_circuit,
            daemon_cafile, DEFAULTS["cold_fetcher"] if cold_fetcher is None else cold_fetcher)
        persistent = [t.spec.path for t in self.cache.tiers
                      if t.accepts_blocks and t.spec.persistent]
        metadata = MetadataCache(
            float(ttl), os.path.join(persistent[0], "metadata") if persistent else None)
        self._cached = CachedStore(self.target, store, metadata, source)
        self._opening = OpeningInfo(self._cached, self.counters, self.block_size,
                                    daemon_client=self._attachment is not None)
        self._writes = self._build_write_mode(write_mode, buffer_dir, buffer_capacity,
                                              buffer_when_full)
        self.write_mode = write_mode

        def _strip_protocol(path):
            # per instance: a path is stripped of "tierfs::"/"tierfs://" and then the target's
            return self.target._strip_protocol(_strip_own_protocol(path))

        self._strip_protocol = _strip_protocol

    def _build_read_path(self, store: str, tiers, concurrency: int, daemon: str | None,
                         daemon_token: str | None, daemon_fallback: str,
                         short_circuit: bool, daemon_cafile: str | None,
                         cold_fetcher: str) -> BlockSource:
        """Tiers and fetcher: our own, or the daemon's (with a private memory tier at most)."""
        direct = build_cold_fetcher(cold_fetcher, self.target, concurrency, self.counters)
        attachment = None
        if daemon:
            attachment = attach(
                daemon, store=store, memory_tiers=parse_tiers(tiers) if tiers else [],
                direct=direct, counters=self.counters, token=daemon_token,
                fallback=daemon_fallback, short_circuit=short_circuit, cafile=daemon_cafile,
            )
        if attachment is not None:
            self.block_size = attachment.block_size  # keys must match the daemon's
            tier_list, fetcher = attachment.tiers, attachment.fetcher
        else:
            memory_only = [{"medium": "memory", "capacity": DEFAULTS["memory_capacity"]}]
            tier_list = build_tiers(parse_tiers(memory_only if daemon and not tiers else tiers))
            fetcher = direct
        self._attachment = attachment
        self.cache = TieredBlockCache(tier_list, self.counters)
        return BlockSource(self.cache, fetcher, self.block_size)

    def _build_write_mode(self, write_mode: str, buffer_dir, buffer_capacity,
                          when_full: str) -> WriteThrough:
        if write_mode == "through":
            for name, value in (("buffer_dir", buffer_dir), ("buffer_capacity", buffer_capacity)):
                if value is not None:
                    raise ValueError(f"{name}: only used with write_mode='back'")
            return WriteThrough(self, self._cached)
        if buffer_dir is None and self._attachment is not None:
            # the daemon journals and uploads: acknowledged writes outlive this process
            remote = RemoteBuffer(self._attachment.client, self._attachment.fetcher.mount_of)
            return WriteBack(self, self._cached, remote)
        if buffer_dir is None:
            raise ValueError("buffer_dir: required with write_mode='back' (a local SSD path), "
                             "unless a daemon with a [writeback] section is used")
        buffer = WriteBackBuffer(buffer_dir, buffer_capacity, self.target, when_full=when_full,
                                 on_uploaded=self._cached.cache_uploaded)
        return WriteBack(self, self._cached, buffer)

    # -- metadata: the target's answers with the pending writes laid over them --

    def info(self, path: str, **kwargs) -> dict:
        return self._writes.info(self._strip_protocol(path), **kwargs)

    def ls(self, path: str, detail: bool = True, **kwargs):
        listing = self._writes.ls(self._strip_protocol(path), **kwargs)
        return listing if detail else [entry["name"] for entry in listing]

    def find(self, path: str, maxdepth=None, withdirs=False, detail=False, **kwargs):
        found = self._writes.find(self._strip_protocol(path), maxdepth, withdirs, **kwargs)
        return found if detail else sorted(found)

    def modified(self, path: str) -> datetime.datetime:
        """When ``path`` last changed: a buffered write's time, else the under store's answer."""
        return self._writes.timestamp(self._strip_protocol(path), self.target.modified)

    def created(self, path: str) -> datetime.datetime:
        """When ``path`` was created: a buffered write's time, else the under store's answer."""
        return self._writes.timestamp(self._strip_protocol(path), self.target.created)

    def invalidate_cache(self, path: str | None = None) -> None:
        if path is None:
            self._cached.metadata.clear()
            self.target.invalidate_cache()
        else:
            self._cached.invalidate(self._strip_protocol(path), tree=True)

    # -- reads --

    def _object(self, path: str, known: dict | None = None) -> ObjectRef:
        """The under-store object behind ``path`` (a rename still in the buffer: its source).

        ``known`` maps paths to ``info`` answers already fetched (``OpeningInfo.ask``).
        """
        path = self._strip_protocol(path)
        entry = self._writes.lookup(path)
        if entry is DELETED:
            raise FileNotFoundError(path)
        source = entry.target_path if isinstance(entry, Redirect) else path
        info = (known or {}).get(source) or self._cached.info(source)
        if info.get("type") == "directory":
            raise IsADirectoryError(f"{path}: is a directory")
        return self._cached.ref(source, info)

    def _infos(self, paths: list[str]) -> dict[str, dict]:
        """``info`` of the paths with no write pending, asked together (probed on S3)."""
        return self._opening.ask([p for p in paths if self._writes.lookup(p) is None])

    def _open(self, path, mode="rb", block_size=None, autocommit=True, cache_options=None,
              **kwargs):
        path = self._strip_protocol(path)
        if "r" in mode:
            local = self._writes.buffered_file(path)
            if local is not None:
                return local
            return TieredReadFile(self, self._cached.source,
                                  self._object(path, self._infos([path])),
                                  path, self.prefetch_blocks)
        return self._writes.open(path, mode, block_size=block_size, autocommit=autocommit,
                                 **kwargs)

    def cat_file(self, path, start=None, end=None, **kwargs) -> bytes:
        return self.cat_ranges([path], [start], [end], on_error="raise")[0]

    def cat_ranges(self, paths, starts, ends, max_gap=None, on_error="return", **kwargs):
        if not (len(paths) == len(starts) == len(ends)):
            raise ValueError("cat_ranges: paths, starts and ends must have the same length")
        paths = [self._strip_protocol(p) for p in paths]
        known = self._infos(paths)
        results: list = [None] * len(paths)
        requests, slots = [], []
        for slot, (path, start, end) in enumerate(zip(paths, starts, ends, strict=True)):
            try:
                local = self._writes.buffered_file(path)
                if local is not None:
                    with local:
                        size = os.fstat(local.fileno()).st_size
                        lo, hi = _normalize_range(size, start, end)
                        local.seek(lo)
                        results[slot] = local.read(hi - lo)
                    continue
                obj = self._object(path, known)
            except Exception as error:
                if on_error == "raise":
                    raise
                results[slot] = error
                continue
            requests.append((obj, *_normalize_range(obj.size, start, end)))
            slots.append(slot)
        for slot, views in zip(slots, self._cached.source.read_many(requests), strict=True):
            results[slot] = b"".join(views)
        return results

    def cat(self, path, recursive=False, on_error="raise", **kwargs):
        paths = self.expand_path(path, recursive=recursive)
        single = (len(paths) == 1 and isinstance(path, str) and not recursive
                  and not fsspec.core.has_magic(path))
        if single:
            return self.cat_file(paths[0])
        contents = self.cat_ranges(paths, [None] * len(paths), [None] * len(paths),
                                   on_error="return")
        out = {}
        for name, data in zip(paths, contents, strict=True):
            if isinstance(data, IsADirectoryError):
                continue  # recursive expansion lists directories too
            if isinstance(data, Exception):
                if on_error == "raise":
                    raise data
                if on_error == "omit":
                    continue
            out[name] = data
        return out

    # -- writes: through the write mode, which invalidates what it changes --

    def pipe_file(self, path, value, **kwargs):
        self._writes.pipe(self._strip_protocol(path), value, **kwargs)

    def put_file(self, lpath, rpath, **kwargs):
        self._writes.put(lpath, self._strip_protocol(rpath), **kwargs)

    def rm_file(self, path):
        self._writes.remove([self._strip_protocol(path)], recursive=False, maxdepth=None)

    def rm(self, path, recursive=False, maxdepth=None):
        paths = [self._strip_protocol(p) for p in ([path] if isinstance(path, str) else path)]
        self._writes.remove(paths, recursive=recursive, maxdepth=maxdepth)

    def cp_file(self, path1, path2, **kwargs):
        self._writes.copy(self._strip_protocol(path1), self._strip_protocol(path2))

    def mv(self, path1, path2, recursive=False, maxdepth=None, **kwargs):
        self._writes.move(self._strip_protocol(path1), self._strip_protocol(path2),
                          recursive=recursive, maxdepth=maxdepth)

    def touch(self, path, truncate=True, **kwargs):
        if truncate or not self.exists(path):
            self.pipe_file(path, b"")

    def mkdir(self, path, create_parents=True, **kwargs):
        path = self._strip_protocol(path)
        self.target.mkdir(path, create_parents=create_parents, **kwargs)
        self._cached.invalidate(path)

    def makedirs(self, path, exist_ok=False):
        path = self._strip_protocol(path)
        self.target.makedirs(path, exist_ok=exist_ok)
        self._cached.invalidate(path)

    def rmdir(self, path):
        path = self._strip_protocol(path)
        self.target.rmdir(path)
        self._cached.invalidate(path)

    def wait_flushed(self, timeout: float | None = None) -> bool:
        """Block until every acknowledged write is in the under store (True), or time out."""
        return self._writes.wait_flushed(timeout)

    def close(self) -> None:
        """Stop uploading and release the write-back buffer for another process; what is
        not yet uploaded stays journaled, and the buffer's next owner uploads it."""
        self._writes.close()

    # -- observability --

    def cache_stats(self) -> dict:
        """Counters since this filesystem was created, and per-tier usage right now.

        Blocks still being written to the tiers in the background are waited for first,
        so the usage figures describe every read that has returned.
        """
        stats = cache_stats(self.cache, self.counters, [self._cached.source])
        writeback = self._writes.stats()
        if writeback is not None:
            stats["writeback"] = writeback
        return stats

    def clear_cache(self) -> None:
        """Drop every cached block and metadata answer (counters keep counting)."""
        self._cached.source.settle()
        self.cache.clear()
        self._cached.metadata.clear()


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
