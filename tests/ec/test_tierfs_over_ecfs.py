"""The tiered cache sits over the EC store like over any other fsspec store."""

from __future__ import annotations

import os

import fsspec

from tierfs.ec import ECFileSystem

TIERS = [{"medium": "memory", "capacity": "64MiB"}]


def test_chained_url_reads_through_the_cache(seaweed_store, tmp_path):
    ecfs_options = {**seaweed_store, "cell_size": 64 * 1024}
    data = os.urandom(3 * 2**20 + 5)
    ECFileSystem(**ecfs_options).pipe_file("cached/data.bin", data)
    with fsspec.open("tierfs::ecfs://cached/data.bin", "rb", ecfs=ecfs_options,
                     tierfs={"tiers": TIERS, "block_size": 2**20}) as handle:
        assert handle.read() == data


def test_cache_hits_do_not_touch_the_ec_store(seaweed_store):
    ecfs_options = {**seaweed_store, "cell_size": 64 * 1024}
    data = os.urandom(2 * 2**20)
    ECFileSystem(**ecfs_options).pipe_file("cached/hot.bin", data)
    fs = fsspec.filesystem("tierfs", target_protocol="ecfs", target_options=ecfs_options,
                           tiers=TIERS, block_size=2**20, skip_instance_cache=True)
    assert fs.cat_file("cached/hot.bin", 100, 200_000) == data[100:200_000]
    fetched = fs.cache_stats()["under_store_bytes"]
    assert fs.cat_file("cached/hot.bin", 100, 200_000) == data[100:200_000]
    assert fs.cache_stats()["under_store_bytes"] == fetched
    assert fs.info("cached/hot.bin")["size"] == len(data)
