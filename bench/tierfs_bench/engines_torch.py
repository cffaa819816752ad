"""The PyTorch epoch of ``tierfs-bench engines``: DataLoader workers read whole shards.

Each worker opens its share of the shards with ``fsspec.open`` (``s3://`` direct,
``tierfs::s3://`` otherwise), reads each whole and checksums it, as a loader decoding
samples would touch every byte. The dataset lives here so spawned workers can import it.
"""

from __future__ import annotations

import random
import time
import warnings
from collections.abc import Iterator

import fsspec
import numpy as np
import xxhash
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from tierfs_bench.engines_store import Access, PassResult, Store

_UPLOAD_BATCH = 8  # shards written concurrently while the data set is made


def shard_payload(seed: int, index: int, size: int) -> bytes:
    return np.random.default_rng([seed, index]).bytes(size)


class ShardStream(IterableDataset):
    """Worker ``k`` of ``n`` reads shards ``order[k::n]`` and yields each one's digest, then,
    through tierfs, the bytes it fetched from the store (``cache_stats``, which also waits
    until its fetched blocks are in the tiers, where the next epoch's new workers look)."""

    def __init__(self, urls: list[str], order: list[int], options: dict, through_tierfs: bool):
        self.urls = urls
        self.order = order
        self.options = options
        self.through_tierfs = through_tierfs

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        mine = self.order if info is None else self.order[info.id::info.num_workers]
        opened = None
        for index in mine:
            opened = fsspec.open(self.urls[index], "rb", **self.options)
            with opened as file:
                yield {"index": index, "xxh3": xxhash.xxh3_64_intdigest(file.read())}
        if self.through_tierfs and opened is not None:
            yield {"fetched": opened.fs.cache_stats()["under_store_bytes"]}


class TorchEpoch:
    """Shards written once to the store; ``run`` reads them in one epoch of new workers."""

    def __init__(self, store: Store, size: int, shard_size: int, workers: int, seed: int = 0):
        count = max(1, size // shard_size)
        self.store = store
        self.workers = workers
        self.paths = [f"{store.data}/torch/shard-{i:05d}.bin" for i in range(count)]
        self.nbytes = count * shard_size
        self.shuffle = random.Random(seed)  # a new order each epoch, as in training
        self.workload = (f"torch epoch, {count} x {shard_size / 2**20:g} MiB shards, "
                         f"{workers} workers")
        s3 = fsspec.filesystem("s3", **store.options)
        # forked workers inherit what a training script imported: s3fs is, load tierfs too
        fsspec.get_filesystem_class("tierfs")
        self.digests = []
        for first in range(0, count, _UPLOAD_BATCH):
            batch = {index: shard_payload(seed, index, shard_size)
                     for index in range(first, min(first + _UPLOAD_BATCH, count))}
            s3.pipe({self.paths[index]: data for index, data in batch.items()})
            self.digests += [xxhash.xxh3_64_intdigest(data) for data in batch.values()]

    def run(self, access: Access) -> PassResult:
        """One shuffled epoch, ``fork`` workers (Linux's default), started inside the clock."""
        if access.tierfs is None:
            urls = [f"s3://{path}" for path in self.paths]
            options = self.store.options
        else:
            urls = [f"tierfs::s3://{path}" for path in self.paths]
            options = {"s3": self.store.options, "tierfs": access.tierfs}
        order = self.shuffle.sample(range(len(urls)), len(urls))
        with warnings.catch_warnings():  # more workers than cores is the point here
            warnings.filterwarnings("ignore", "This DataLoader will create", UserWarning)
            loader = DataLoader(ShardStream(urls, order, options, access.tierfs is not None),
                                batch_size=None, num_workers=self.workers,
                                multiprocessing_context="fork")
            started = time.perf_counter()
            items = list(loader)
            seconds = time.perf_counter() - started
        reports = [item["fetched"] for item in items if "fetched" in item]
        fetched = sum(reports) if access.tierfs is not None else None
        return PassResult(seconds, fetched, self._problems(items))

    def _problems(self, items: list[dict]) -> list[str]:
        got = {item["index"]: item["xxh3"] for item in items if "index" in item}
        wrong = [i for i, digest in enumerate(self.digests) if got.get(i) != digest]
        return [f"shards {wrong[:5]} read wrong or missing"] if wrong else []

