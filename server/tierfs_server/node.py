"""The cache node: what one daemon serves to every process of its compute node.

One tiered cache (the same engine as the library) shared by all mounts; per mount, a
``CachedStore`` whose misses go to the owning peer, else to the under store. Requests
name a block by (mount, path, size, version, index); the version a client sends is
checked against the under store's (cached ``metadata_ttl`` seconds) before anything is
fetched, so a stale client gets a 409 rather than a mix of old and new bytes.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import fsspec
from fsspec.core import split_protocol

from tierfs.cache import (
    TUNING,
    BlockSource,
    CacheCounters,
    Fetcher,
    ObjectChangedError,
    ObjectRef,
    RangeFetcher,
    TieredBlockCache,
    block_key,
    build_tiers,
    object_version,
    store_identity,
)
from tierfs.cached_store import CachedStore, cache_stats
from tierfs.daemon_client.protocol import NODE_ID_FILE, BlockAddress
from tierfs.metadata import MetadataCache
from tierfs.private_paths import private_file
from tierfs.writeback import WriteBackBuffer
from tierfs_server.config import DaemonConfig, Mount
from tierfs_server.fetchers import PeerFetcher, TimedFetcher
from tierfs_server.local_blocks import LocalBlocks
from tierfs_server.paths import checked_path
from tierfs_server.peers import PeerSet
from tierfs_server.shuffle_store import ShuffleStore

_HOT_PATHS = 10


class MountRuntime:
    def __init__(self, mount: Mount, node: CacheNode, fetcher_for: Callable[..., Fetcher]):
        protocol, _ = split_protocol(mount.url)
        self.name = mount.name
        self.fs = fsspec.filesystem(protocol, **copy.deepcopy(mount.options))
        self.root = self.fs._strip_protocol(mount.url).rstrip("/")
        self.cached = CachedStore(
            self.fs, store_identity(protocol, mount.options),
            MetadataCache(node.config.metadata_ttl),
            BlockSource(node.cache, fetcher_for(self), node.config.block_size))
        settings = node.config.writeback
        self.buffer = None if settings is None else WriteBackBuffer(
            Path(settings.directory) / mount.name, settings.capacity, self.fs,
            when_full=settings.when_full, on_uploaded=self.cached.cache_uploaded)

    def writable_buffer(self) -> WriteBackBuffer:
        if self.buffer is None:
            raise LookupError("writeback: this daemon has no [writeback] section")
        return self.buffer

    def checked_object(self, address: BlockAddress) -> ObjectRef:
        """The object a request names, if its version is the under store's current one."""
        path = checked_path(self.root, address.path)
        for fresh in (False, True):
            if fresh:
                self.cached.metadata.invalidate(path)
            info = self.cached.info(path)
            if info.get("type") == "directory":
                raise IsADirectoryError(f"{path}: is a directory")
            if int(info["size"]) == address.size and object_version(info) == address.version:
                return ObjectRef(self.cached.store, path, address.size, address.version)
        raise ObjectChangedError(f"{path}: the object changed; reopen it to read the new version")

    def describe(self) -> dict:
        return {"name": self.name, "store": self.cached.store, "root": self.root}


class CacheNode:
    def __init__(self, config: DaemonConfig,
                 observe_under_store: Callable[[float], None] = lambda seconds: None):
        self.config = config
        self.counters = CacheCounters()
        self.cache = TieredBlockCache(build_tiers(list(config.tiers)), self.counters)
        self.local = LocalBlocks(self.cache, self.counters)  # the hit paths of clients
        # the servers beside the HTTP app (descriptors, data port): their figures by name
        self.side_servers: dict[str, Callable[[], dict]] = {}
        self.block_port: int | None = None  # the data port's, once it listens
        self.node_id = self._node_id()
        self.peers = (PeerSet(config.peers, config.token)
                      if config.peers.members or config.peers.dns else None)
        self._hot_lock = threading.Lock()
        self._hot_paths: Counter[str] = Counter()
        self.requests = 0

        def fetcher_for(mount: MountRuntime) -> Fetcher:
            fetcher: Fetcher = TimedFetcher(
                RangeFetcher(mount.fs, TUNING.fetch_concurrency, self.counters),
                observe_under_store)
            if self.peers is not None:
                fetcher = PeerFetcher(fetcher, self.peers, mount.name, config.block_size,
                                      self.counters)
            return fetcher

        self.mounts = {m.name: MountRuntime(m, self, fetcher_for) for m in config.mounts}
        self.shuffles = ShuffleStore(config.shuffle) if config.shuffle else None

    def _node_id(self) -> str:
        """One id for this daemon's tier directories, kept in each of them across restarts."""
        directories = [Path(spec.path) for spec in self.config.tiers if spec.path]
        existing = [(d / NODE_ID_FILE).read_text().strip() for d in directories
                    if (d / NODE_ID_FILE).exists()]
        node_id = existing[0] if existing else uuid.uuid4().hex
        for directory in directories:
            private_file(directory / NODE_ID_FILE).write_text(node_id)
        return node_id

    def read_block(self, address: BlockAddress) -> tuple[bytes, str]:
        """The block's bytes and whether they came from the cache or were fetched."""
        mount = self.mounts.get(address.mount)
        if mount is None:
            raise LookupError(f"mount: no mount named {address.mount!r}")
        block_size = self.config.block_size
        start = address.index * block_size
        if start >= address.size:
            raise ValueError(f"index: block {address.index} is past the end of the object")
        length = min(block_size, address.size - start)
        lo, hi = address.start, length if address.end is None else address.end
        if hi > length:
            raise ValueError(f"end: {hi} is past the end of block {address.index} ({length})")
        path = checked_path(mount.root, address.path)
        with self._hot_lock:
            self._hot_paths[path] += 1
            self.requests += 1
        candidate = ObjectRef(mount.cached.store, path, address.size, address.version)
        view = self.cache.read_block(block_key(candidate, block_size, address.index), lo, hi)
        if view is not None:
            return bytes(view), "cache"
        obj = mount.checked_object(address)
        parts = mount.cached.source.read_many([(obj, start + lo, start + hi)])[0]
        return b"".join(parts), "fetched"

    def record_hits(self, hits: dict[str, int]) -> int:
        """Hits clients made on the tier files directly: for eviction order and the counters."""
        counted = 0
        for key, count in hits.items():
            if not isinstance(key, str) or isinstance(count, bool) or not isinstance(count, int):
                raise ValueError("hits: expected {block key: count}")
            self.cache.touch(key)
            counted += max(count, 0)
        self.counters.add("hits", counted)
        self.counters.add("short_circuit_hits", counted)
        return counted

    def describe(self) -> dict:
        return {
            "node_id": self.node_id,
            "block_size": self.config.block_size,
            "tiers": [
                {"medium": spec.medium, "path": spec.path, "capacity": spec.capacity}
                for spec in self.config.tiers if spec.persistent
            ],
            "mounts": [mount.describe() for mount in self.mounts.values()],
            "self": self.config.peers.self_url,
            "peers": self.peers.members() if self.peers else [],
            "shuffle": self.shuffles is not None,
            "fd_socket": self.config.fd_socket,
            "block_port": self.block_port,
            "block_poll_us": self.config.block_poll_us,
        }

    def stats(self) -> dict:
        stats = cache_stats(self.cache, self.counters,
                            [mount.cached.source for mount in self.mounts.values()],
                            settle_timeout=5)
        lookups = stats["hits"] + stats["misses"]
        stats["hit_ratio"] = stats["hits"] / lookups if lookups else None
        stats["requests"] = self.requests
        with self._hot_lock:
            stats["hottest_paths"] = self._hot_paths.most_common(_HOT_PATHS)
        stats["peers"] = self.peers.status() if self.peers else []
        stats["mounts"] = [mount.describe() for mount in self.mounts.values()]
        if self.config.writeback is not None:
            stats["writeback"] = self.writeback_stats()
        if self.shuffles is not None:
            stats["shuffle"] = self.shuffles.stats()
        for name, figures in self.side_servers.items():
            stats[name] = figures()
        return stats

    def writeback_stats(self) -> dict:
        """Write-back figures summed over mounts (what ``/metrics`` exports as the queue)."""
        totals: dict[str, float] = {}
        for mount in self.mounts.values():
            if mount.buffer is not None:
                for name, value in mount.buffer.stats().items():
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        totals[name] = totals.get(name, 0) + value
        return totals

    def close(self) -> None:
        """Persist what is only in memory: blocks being stored, batched access times.

        Write-back buffers stop their uploaders; what is not uploaded stays journaled
        and the next start finishes it.
        """
        self.local.close()
        for mount in self.mounts.values():
            mount.cached.source.settle()
            if mount.buffer is not None:
                mount.buffer.close()
        self.cache.flush()
