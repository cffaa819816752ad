"""The variants of the read benchmark: how each one is built and how it opens the data set.

A ``Family`` builds readers over a fresh cache directory; cached families yield a cold and
a warm variant from the same cache. Workloads only see the ``Reader`` interface, so every
variant performs exactly the same calls in the same order.
"""

from __future__ import annotations

import importlib.util
import io
import mmap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import fsspec
from s3fs import S3FileSystem

from tierfs.cache.tuning import TUNING
from tierfs_bench.disk_floor import DISK_FLOOR, WRITE_SIZE
from tierfs_bench.read_data import DataSet

RANDOM = "random"
SEQUENTIAL = "sequential"


class Reader:
    """Opens the data set's files for one variant; subclasses map indexes to paths."""

    name = "reader"

    def open_large(self, index: int, access: str) -> BinaryIO:
        raise NotImplementedError

    def open_small(self, index: int) -> BinaryIO:
        raise NotImplementedError

    def cat_small(self) -> int:
        """Read every small file in one call where the API has one; returns the bytes read."""
        raise NotImplementedError

    def prime(self) -> None:
        """Open connections (not data caches) so that the first timed call is not a handshake."""

    def cache_stats(self) -> dict | None:
        return None

    def quiesce(self) -> None:
        """Wait for background work (read-ahead, tier stores) a read may have left running."""

    def close(self) -> None:
        """Release what the reader holds (the caller removes its cache directory)."""


class LocalReader(Reader):
    """The limit: Python's own ``open()`` on local files holding the same bytes."""

    name = "local"

    def __init__(self, dataset: DataSet):
        self.dataset = dataset

    def open_large(self, index: int, access: str) -> BinaryIO:
        return open(self.dataset.local_large[index], "rb")

    def open_small(self, index: int) -> BinaryIO:
        return open(self.dataset.local_small[index], "rb")

    def cat_small(self) -> int:
        total = 0
        for path in self.dataset.local_small:
            with open(path, "rb") as f:
                total += len(f.read())
        return total


class MappedFile(io.RawIOBase):
    """A read-only view of one mapping: ``readinto`` is one memcpy from the page cache."""

    def __init__(self, mapping: mmap.mmap):
        super().__init__()
        self._view = memoryview(mapping)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer) -> int:
        chunk = self._view[self._pos:self._pos + len(buffer)]
        memoryview(buffer).cast("B")[:len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)

    def readall(self) -> bytes:
        data = bytes(self._view[self._pos:])
        self._pos = len(self._view)
        return data

    def close(self) -> None:
        self._view.release()
        super().close()


class MappedLocalReader(LocalReader):
    """The other limit: the same local files mapped once and copied from (as warm tierfs
    copies from its tier files' mappings), so neither limit favours a read path."""

    name = "local mmap"

    def __init__(self, dataset: DataSet):
        super().__init__(dataset)
        self._maps: dict[Path, mmap.mmap] = {}

    def _open(self, path: Path) -> MappedFile:
        if path not in self._maps:
            with open(path, "rb") as file:
                self._maps[path] = mmap.mmap(file.fileno(), 0, prot=mmap.PROT_READ)
        return MappedFile(self._maps[path])

    def open_large(self, index: int, access: str) -> BinaryIO:
        return self._open(self.dataset.local_large[index])

    def open_small(self, index: int) -> BinaryIO:
        return self._open(self.dataset.local_small[index])

    def cat_small(self) -> int:
        total = 0
        for index in range(len(self.dataset.local_small)):
            with self.open_small(index) as f:
                total += len(f.read())
        return total

    def close(self) -> None:
        for mapping in self._maps.values():
            mapping.close()
        self._maps.clear()


class FsspecReader(Reader):
    """Any fsspec filesystem holding the data set under its remote paths."""

    def __init__(self, name: str, fs, dataset: DataSet, open_kwargs: dict[str, dict] | None = None):
        self.name = name
        self.fs = fs
        self.dataset = dataset
        self.open_kwargs = open_kwargs or {}

    def open_large(self, index: int, access: str) -> BinaryIO:
        return self.fs.open(self.dataset.large[index], "rb", **self.open_kwargs.get(access, {}))

    def open_small(self, index: int) -> BinaryIO:
        return self.fs.open(self.dataset.small[index], "rb")

    def cat_small(self) -> int:
        return sum(len(data) for data in self.fs.cat(self.dataset.small).values())

    def prime(self) -> None:
        self.fs.info(self.dataset.prime_path)

    def cache_stats(self) -> dict | None:
        stats = getattr(self.fs, "cache_stats", None)
        return stats() if callable(stats) else None

    def quiesce(self) -> None:
        if self.cache_stats() is not None:
            wait_until_quiet(self.fs)

    def close(self) -> None:
        self.quiesce()
        self.fs = None


def wait_until_quiet(fs, interval: float = 0.02, timeout: float = 10.0) -> bool:
    """Poll ``fs.cache_stats()`` until two polls agree (no fetch or store still running).

    A cache may keep storing prefetched blocks after a read returned; removing its directory
    or reopening it before then would measure (or break) work still in flight.
    """
    def snapshot():
        stats = fs.cache_stats()
        return stats.get("under_store_bytes"), [
            (tier.get("used"), tier.get("blocks")) for tier in stats.get("tiers", [])
        ]

    deadline = time.monotonic() + timeout
    previous = snapshot()
    while time.monotonic() < deadline:
        time.sleep(interval)
        current = snapshot()
        if current == previous:
            return True
        previous = current
    return False


class EmptyRangeSafeS3(S3FileSystem):
    """s3fs that answers an empty range with ``b""`` instead of sending it to the server.

    fsspec's ``MMapCache`` (behind ``blockcache``) treats a read's exclusive end as inclusive:
    a read ending exactly at a block-aligned end of file asks for the empty range
    ``[size, size)``, which S3 rejects, and the file read fails with ``TypeError``. This shim
    lets blockcache run at all; it changes nothing else (the extra block it asks for at every
    block-aligned read end is still fetched, as it would be for a user).
    """

    async def _cat_file(self, path, version_id=None, start=None, end=None, **kwargs):
        if start is not None and end is not None and 0 <= start and end <= start:
            return b""
        return await super()._cat_file(path, version_id=version_id, start=start, end=end,
                                       **kwargs)


@dataclass
class Family:
    """How to build one kind of reader; a cached family yields a cold and a warm variant.

    ``make(cache_dir)`` builds a reader over an empty cache directory (``None`` for
    families without a cache). ``reopen(old_reader, cache_dir)``, if set, builds the reader
    the warm runs use from the directory the old one filled, e.g. a new process's view.
    """

    name: str
    make: Callable[[Path | None], Reader]
    cached: bool
    plain: str | None = None  # variant name of an uncached family
    cold: str | None = None
    warm: str | None = None
    reopen: Callable[[Reader, Path], Reader] | None = None
    warm_up: bool = False  # one untimed pass before the runs of an uncached family
    limit: bool = False  # local files: what no cache can beat, interleaved with warm caches
    descriptions: dict[str, str] = field(default_factory=dict)

    @property
    def variants(self) -> list[str]:
        return [v for v in (self.plain, self.cold, self.warm) if v]


@dataclass(frozen=True)
class VariantConfig:
    storage_options: dict
    block_size: int
    memory_capacity: int
    ssd_capacity: int
    metadata_ttl: float = 60


def tierfs_available() -> bool:
    """True once the ``tierfs`` protocol's module exists in this checkout."""
    try:
        return importlib.util.find_spec("tierfs.fs") is not None
    except ImportError:
        return False


def build_families(dataset: DataSet, config: VariantConfig) -> list[Family]:
    """Every family of the benchmark, in table order: (e) and (a) first, then the caches."""
    from tierfs_bench.read_obstore import ObstoreReader  # it builds on this module's Reader

    options = config.storage_options

    def s3(**extra):
        return fsspec.filesystem("s3", skip_instance_cache=True, **options, **extra)

    def blockcache_s3(**extra):
        return EmptyRangeSafeS3(skip_instance_cache=True, **options, **extra)

    def fsspec_cache(protocol: str, **s3_extra) -> Callable[[Path | None], Reader]:
        # one s3fs per family, shared by its cold and warm instances, as tierfs shares its
        # target through fsspec's instance cache: cold runs pay for data, not for a client
        target = (blockcache_s3 if protocol == "blockcache" else s3)(**s3_extra)

        def make(cache_dir: Path | None) -> Reader:
            fs = fsspec.filesystem(
                protocol, fs=target, cache_storage=str(cache_dir),
                skip_instance_cache=True,
            )
            return FsspecReader(protocol, fs, dataset)

        return make

    def tierfs(name: str, with_memory: bool) -> Callable[[Path | None], Reader]:
        def make(cache_dir: Path | None) -> Reader:
            tiers = [{"medium": "ssd", "path": str(cache_dir / "ssd"),
                      "capacity": config.ssd_capacity}]
            if with_memory:
                tiers.insert(0, {"medium": "memory", "capacity": config.memory_capacity})
            fs = fsspec.filesystem(
                "tierfs", target_protocol="s3", target_options=options, tiers=tiers,
                block_size=config.block_size, metadata_ttl=config.metadata_ttl,
                skip_instance_cache=True,
            )
            return FsspecReader(name, fs, dataset)

        return make

    mib = config.block_size / 2**20
    families = [
        Family(
            "local", lambda _dir: LocalReader(dataset), cached=False, plain="local", warm_up=True,
            limit=True,
            descriptions={"local": "(e) the limit: Python open() of local files with the same "
                                   "bytes (in the page cache), read(2) into the buffer"},
        ),
        Family(
            "local mmap", lambda _dir: MappedLocalReader(dataset), cached=False,
            plain="local mmap", warm_up=True, limit=True,
            descriptions={"local mmap": "(e) the same local files mapped once, readinto "
                                        "copying from the mapping (as warm tierfs does)"},
        ),
        Family(
            "s3fs",
            lambda _dir: FsspecReader(
                "s3fs", s3(), dataset, open_kwargs={RANDOM: {"cache_type": "none"}}
            ),
            cached=False, plain="s3fs",
            descriptions={"s3fs": "(a) direct s3fs, no cache: defaults for sequential reads "
                                  "(readahead, 50 MiB blocks), cache_type='none' for random "
                                  "reads (one ranged GET each)"},
        ),
        Family(
            "obstore", lambda _dir: ObstoreReader(dataset, options), cached=False,
            plain="obstore",
            descriptions={"obstore": "(a) raw obstore (Rust's object_store), no cache: one "
                                     "streaming GET per sequential file, one ranged GET per "
                                     "random read, concurrent GETs for cat"},
        ),
    ]
    for protocol, what, s3_extra in (
        ("simplecache", "whole-file copy on first open, no metadata", {}),
        ("filecache", "whole-file copy on first open, with cache metadata", {}),
        ("blockcache", f"sparse local file of {mib:g} MiB blocks (mmap; s3fs answers empty "
                       "ranges locally, see EmptyRangeSafeS3)",
         {"default_block_size": config.block_size}),
    ):
        families.append(Family(
            protocol, fsspec_cache(protocol, **s3_extra), cached=True,
            cold=f"{protocol} cold", warm=f"{protocol} warm",
            descriptions={
                f"{protocol} cold": f"(b) fsspec {protocol}:: over s3fs, {what}; "
                                    "empty cache directory",
                f"{protocol} warm": f"(b) fsspec {protocol}:: over s3fs, same instance after "
                                    "a first pass",
            },
        ))
    if not tierfs_available():
        return families

    def reopen_ssd(_old: Reader, cache_dir: Path) -> Reader:
        return tierfs("tierfs", with_memory=False)(cache_dir)

    memory = _size_label(config.memory_capacity)
    ssd = _size_label(config.ssd_capacity)
    families += [
        Family(
            "tierfs", tierfs("tierfs", with_memory=True), cached=True,
            cold="tierfs cold", warm="tierfs warm mem",
            descriptions={
                "tierfs cold": f"(c) tierfs, tiers memory {memory} + ssd {ssd}, "
                               f"{mib:g} MiB blocks; empty tiers",
                "tierfs cold, in tiers": "(c) the same runs, timed until cache_stats() "
                                         "returns (deferred tier writes drained)",
                DISK_FLOOR: "(e) the floor of 'in tiers': the ssd tier's disk writing the "
                            "bytes each cold run fetched, right after it (O_DIRECT writes of "
                            f"{WRITE_SIZE // 2**20} MiB, {TUNING.persist_workers} threads, as "
                            "tierfs persists)",
                "tierfs warm mem": "(d) tierfs, same instance after a first pass "
                                   "(blocks in the memory tier)",
            },
        ),
        Family(
            "tierfs-ssd", tierfs("tierfs", with_memory=False), cached=True,
            warm="tierfs warm ssd", reopen=reopen_ssd,
            descriptions={
                "tierfs warm ssd": f"(d) tierfs, tiers=[ssd {ssd}] only: a new instance over "
                                   "the directory another instance filled (restart warmth)",
            },
        ),
    ]
    return families


def _size_label(nbytes: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= scale and nbytes % scale == 0:
            return f"{nbytes // scale} {unit}"
    return f"{nbytes} B"
