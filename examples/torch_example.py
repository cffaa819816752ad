"""A PyTorch DataLoader whose workers read shards from S3 through tierfs.

The first epoch fetches the shards; the second reads them from the ssd tier the worker
processes share. Uses ``AWS_ENDPOINT_URL`` (and the AWS key variables) if set, else an
embedded SeaweedFS. Run: ``python examples/torch_example.py``.
"""

from __future__ import annotations

import fsspec
import torch
from _store import BUCKET, example_store, example_tiers
from torch.utils.data import DataLoader, Dataset

SHARDS = 8


class Shards(Dataset):
    """Item ``i`` is shard ``i``, a tensor saved with ``torch.save``."""

    def __init__(self, urls: list[str], options: dict):
        self.urls = urls
        self.options = options

    def __len__(self) -> int:
        return len(self.urls)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        opened = fsspec.open(self.urls[index], "rb", **self.options)
        with opened as file:
            shard = torch.load(file)
        return shard, opened.fs.cache_stats()["under_store_bytes"]


def main() -> None:
    with example_store() as s3, example_tiers() as tiers:
        options = {"s3": s3, "tierfs": {"tiers": tiers}}
        urls = [f"tierfs::s3://{BUCKET}/torch-example/shard-{i}.pt" for i in range(SHARDS)]
        for index, url in enumerate(urls):
            with fsspec.open(url, "wb", **options) as file:
                torch.save(torch.full((256, 256), float(index)), file)
        loader = DataLoader(Shards(urls, options), batch_size=None, num_workers=4, shuffle=True)
        for number in (1, 2):
            total, fetched = 0.0, 0
            for shard, worker_fetched in loader:  # each worker reports its running total
                total += float(shard[0, 0])
                fetched = max(fetched, worker_fetched)
            if total != sum(range(SHARDS)):
                raise SystemExit(f"epoch {number}: shards summed to {total}")
            print(f"epoch {number}: {SHARDS} shards read, a worker fetched at most {fetched} bytes")
        print(f"ok: PyTorch read {SHARDS} shards twice through tierfs::s3://{BUCKET}")


if __name__ == "__main__":
    main()
