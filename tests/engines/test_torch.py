"""PyTorch DataLoader workers (fork and spawn) read and write through ``tierfs::s3://``."""

from __future__ import annotations

import hashlib
import io
import os

import fsspec
import pytest

from tests.daemon.conftest import start_daemon  # noqa: F401 - a fixture of this module too
from tierfs.writeback.lock import lock_holder

torch = pytest.importorskip("torch", reason="the torch extra is not installed")
from torch.utils.data import DataLoader  # noqa: E402

from tests.engines.helpers_torch import (  # noqa: E402
    CheckpointingDataset,
    ShardDataset,
    ShardStream,
    checkpoint,
)

MiB = 2**20
SHARDS = 8
WORKERS = 4
DATASETS = {"map": ShardDataset, "iterable": ShardStream}


@pytest.fixture
def shards(s3, bucket) -> dict[str, str]:
    """Eight shards of 1-2 MiB (not block-aligned) in the store: ``{url: sha256}``."""
    digests = {}
    for index in range(SHARDS):
        data = os.urandom(MiB + index * 150_001)
        s3.pipe(f"{bucket}/shards/{index:02d}.bin", data)
        digests[f"tierfs::s3://{bucket}/shards/{index:02d}.bin"] = hashlib.sha256(data).hexdigest()
    return digests


def shard_bytes(s3, bucket) -> int:
    return sum(s3.du(f"{bucket}/shards", total=False).values())


def epoch(kind: str, urls: list[str], options: dict, start_method: str) -> list[dict]:
    """One pass with new worker processes (not persistent), as a DataLoader does by default."""
    dataset = DATASETS[kind](urls, options)
    return list(DataLoader(dataset, batch_size=None, num_workers=WORKERS,
                           shuffle=kind == "map", multiprocessing_context=start_method))


def fetched_by_workers(reports: list[dict]) -> int:
    """Bytes fetched from the store, summed over worker processes (each reports a running total)."""
    last: dict[int, int] = {}
    for report in reports:
        last[report["pid"]] = max(last.get(report["pid"], 0), report["under_store_bytes"])
    return sum(last.values())


def assert_exact(reports: list[dict], shards: dict[str, str]) -> None:
    assert sorted((r["url"], r["sha256"]) for r in reports) == sorted(shards.items())


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_workers_sharing_an_ssd_tier_fetch_each_block_once(seaweed, s3, bucket, shards,
                                                           tmp_path, start_method):
    """A shuffled map-style epoch, then an iterable one: new workers, other shards each."""
    options = {"s3": seaweed.storage_options(),
               "tierfs": {"block_size": "1MiB",
                          "tiers": [{"medium": "memory", "capacity": "64MiB"},
                                    {"medium": "ssd", "path": str(tmp_path / "ssd"),
                                     "capacity": "256MiB"}]}}
    first = epoch("map", list(shards), options, start_method)
    second = epoch("iterable", list(shards), options, start_method)
    assert_exact(first, shards)
    assert_exact(second, shards)
    size = shard_bytes(s3, bucket)
    assert size <= fetched_by_workers(first) <= size * 1.05
    assert fetched_by_workers(second) == 0  # every block from the tier the workers share


def test_with_the_daemon_each_byte_is_fetched_once_per_node(seaweed, s3, bucket, shards,
                                                            start_daemon):  # noqa: F811
    """Forked workers read a map-style epoch, then spawned ones an iterable epoch."""
    daemon = start_daemon()
    options = {"s3": seaweed.storage_options(), "tierfs": {"daemon": daemon.url}}
    reports = epoch("map", list(shards), options, "fork")
    assert_exact(reports, shards)
    assert daemon.stats()["under_store_bytes"] == shard_bytes(s3, bucket)
    reports += (second := epoch("iterable", list(shards), options, "spawn"))
    assert_exact(second, shards)
    assert all(r["under_store_bytes"] == 0 for r in reports)  # the daemon fetched, not they
    assert daemon.stats()["under_store_bytes"] == shard_bytes(s3, bucket)


def test_forked_workers_save_checkpoints_and_the_parents_buffer_stays_intact(
    seaweed, s3, bucket, tmp_path
):
    """The parent writes through its buffer, one file still open while the workers fork."""
    s3_options = seaweed.storage_options()
    tiers = [{"medium": "memory", "capacity": "64MiB"}]
    parent = fsspec.filesystem("tierfs", target_protocol="s3", target_options=s3_options,
                               tiers=tiers, write_mode="back", buffer_dir=str(tmp_path / "wb"),
                               skip_instance_cache=True)
    parent_paths = [f"{bucket}/parent/{i}.pt" for i in range(WORKERS)]
    for index, path in enumerate(parent_paths):
        with parent.open(path, "wb") as file:
            torch.save(checkpoint(index), file)
    serialized = io.BytesIO()
    torch.save(checkpoint(99), serialized)
    half_written = parent.open(f"{bucket}/parent/open.pt", "wb")
    half_written.write(serialized.getvalue()[:5000])  # buffered in the writer at the fork

    out_urls = [f"tierfs::s3://{bucket}/workers/{i}.pt" for i in range(WORKERS * 2)]
    dataset = CheckpointingDataset(parent, out_urls, {"s3": s3_options, "tierfs": {"tiers": tiers}},
                                   str(tmp_path / "worker-buffers"))
    reports = list(DataLoader(dataset, batch_size=None, num_workers=WORKERS,
                              multiprocessing_context="fork"))
    assert all(r["loaded_ok"] and r["flushed"] for r in reports)
    assert all("buffer_dir of its own" in r["refused"] for r in reports)

    half_written.write(serialized.getvalue()[5000:])
    half_written.close()
    assert lock_holder(tmp_path / "wb") == os.getpid()
    assert parent.wait_flushed(timeout=60)
    for index, path in enumerate([*parent_paths, f"{bucket}/parent/open.pt"]):
        step = 99 if path.endswith("open.pt") else index
        with s3.open(path, "rb") as file:  # straight from the store
            assert torch.equal(torch.load(file)["weights"], checkpoint(step)["weights"])
    assert s3.cat_file(f"{bucket}/parent/open.pt") == serialized.getvalue()
    assert not s3.exists(f"{bucket}/workers/0.pt.from-child")
    for index, url in enumerate(out_urls):
        with fsspec.open(url, "rb", s3=s3_options, tierfs={"tiers": tiers}) as file:
            assert torch.equal(torch.load(file)["weights"], checkpoint(100 + index)["weights"])
