"""Datasets of the PyTorch tests, in a module so that spawned DataLoader workers import them.

Each item reads or writes through ``fsspec.open("tierfs::s3://...")`` as a user's dataset
would, and reports what its worker process saw (digests, the filesystem's fetch counter).
"""

from __future__ import annotations

import hashlib
import os

import fsspec
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info


def read_shard(url: str, options: dict) -> dict:
    """Read one shard whole; report its digest and the bytes this process fetched so far."""
    opened = fsspec.open(url, "rb", **options)
    with opened as file:
        digest = hashlib.sha256(file.read()).hexdigest()
    return {"url": url, "sha256": digest, "pid": os.getpid(),
            "under_store_bytes": opened.fs.cache_stats()["under_store_bytes"]}


class ShardDataset(Dataset):
    """Map-style: item ``i`` is shard ``i``."""

    def __init__(self, urls: list[str], options: dict):
        self.urls = urls
        self.options = options

    def __len__(self) -> int:
        return len(self.urls)

    def __getitem__(self, index: int) -> dict:
        return read_shard(self.urls[index], self.options)


class ShardStream(IterableDataset):
    """Iterable: worker ``k`` of ``n`` reads shards ``k, k + n, ...``."""

    def __init__(self, urls: list[str], options: dict):
        self.urls = urls
        self.options = options

    def __iter__(self):
        info = get_worker_info()
        mine = self.urls if info is None else self.urls[info.id::info.num_workers]
        for url in mine:
            yield read_shard(url, self.options)


def checkpoint(step: int) -> dict:
    return {"step": step, "weights": torch.arange(10_000, dtype=torch.float32) * step}


class CheckpointingDataset(Dataset):
    """Item ``i``, in a forked worker: ``torch.save`` checkpoint ``100 + i`` and load it back.

    It saves through a write-back filesystem of its own (its own ``buffer_dir``) and waits
    until the upload is done; it also tries to write through the parent's write-back
    filesystem it inherited, which must be refused.
    """

    def __init__(self, parent_fs, out_urls: list[str], options: dict, buffer_root: str):
        self.parent_fs = parent_fs
        self.out_urls = out_urls
        self.options = options
        self.buffer_root = buffer_root

    def __len__(self) -> int:
        return len(self.out_urls)

    def __getitem__(self, index: int) -> dict:
        try:
            self.parent_fs.pipe(self.out_urls[index] + ".from-child", b"x")
            refused = ""
        except RuntimeError as error:
            refused = str(error)
        options = dict(self.options)
        options["tierfs"] = options["tierfs"] | {
            "write_mode": "back",
            "buffer_dir": f"{self.buffer_root}/worker-{get_worker_info().id}",
        }
        saved = checkpoint(100 + index)
        opened = fsspec.open(self.out_urls[index], "wb", **options)
        with opened as file:
            torch.save(saved, file)
        with fsspec.open(self.out_urls[index], "rb", **options) as file:
            loaded = torch.load(file)
        return {"refused": refused, "loaded_ok": torch.equal(loaded["weights"], saved["weights"]),
                "flushed": opened.fs.wait_flushed(timeout=60)}
