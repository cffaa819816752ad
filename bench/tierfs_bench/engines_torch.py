"""The PyTorch epoch of ``tierfs-bench engines``: DataLoader workers read whole shards.

Each item opens one shard with ``fsspec.open`` (``s3://`` direct, ``tierfs::s3://``
otherwise), reads it whole and checksums it, as a loader decoding samples would touch
every byte. The dataset lives here so that spawned workers can import it.
"""

from __future__ import annotations

import os
import time

import fsspec
import numpy as np
import torch
import xxhash
from torch.utils.data import DataLoader, Dataset

from tierfs_bench.engines_store import Access, PassResult, Store

_UPLOAD_BATCH = 8  # shards written concurrently while the data set is made


def shard_payload(seed: int, index: int, size: int) -> bytes:
    return np.random.default_rng([seed, index]).bytes(size)


class ShardDataset(Dataset):
    """Item ``i`` reads shard ``i`` and reports its digest, and, through tierfs, the bytes
    this worker fetched from the store so far (``cache_stats``, which also waits until
    fetched blocks are in the tiers: the next epoch's new workers find them there)."""

    def __init__(self, urls: list[str], options: dict, through_tierfs: bool):
        self.urls = urls
        self.options = options
        self.through_tierfs = through_tierfs

    def __len__(self) -> int:
        return len(self.urls)

    def __getitem__(self, index: int) -> dict:
        opened = fsspec.open(self.urls[index], "rb", **self.options)
        with opened as file:
            digest = xxhash.xxh3_64_intdigest(file.read())
        fetched = opened.fs.cache_stats()["under_store_bytes"] if self.through_tierfs else None
        return {"index": index, "xxh3": digest, "pid": os.getpid(), "fetched": fetched}


class TorchEpoch:
    """Shards written once to the store; ``run`` reads them in one epoch of new workers."""

    def __init__(self, store: Store, size: int, shard_size: int, workers: int, seed: int = 0):
        count = max(1, size // shard_size)
        self.store = store
        self.workers = workers
        self.paths = [f"{store.data}/torch/shard-{i:05d}.bin" for i in range(count)]
        self.nbytes = count * shard_size
        self.order = torch.Generator().manual_seed(seed)  # a new shuffle each epoch, as in training
        self.workload = (f"torch epoch, {count} x {shard_size / 2**20:g} MiB shards, "
                         f"{workers} workers")
        s3 = fsspec.filesystem("s3", **store.options)
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
        loader = DataLoader(ShardDataset(urls, options, access.tierfs is not None),
                            batch_size=None, shuffle=True, num_workers=self.workers,
                            generator=self.order,
                            multiprocessing_context="fork")
        started = time.perf_counter()
        items = list(loader)
        seconds = time.perf_counter() - started
        return PassResult(seconds, _fetched(items), self._problems(items))

    def _problems(self, items: list[dict]) -> list[str]:
        got = {item["index"]: item["xxh3"] for item in items}
        wrong = [i for i, digest in enumerate(self.digests) if got.get(i) != digest]
        return [f"shards {wrong[:5]} read wrong or missing"] if wrong else []


def _fetched(items: list[dict]) -> int | None:
    """Summed over worker processes: each reports its running total, so its last counts."""
    if items[0]["fetched"] is None:
        return None
    last: dict[int, int] = {}
    for item in items:
        last[item["pid"]] = max(last.get(item["pid"], 0), item["fetched"])
    return sum(last.values())
