"""A block is fetched from the store once per node, whatever the memory tier's size.

Blocks whose ssd write is deferred used to leave a small memory tier before they were
persisted, and the next reader fetched them again (120 misses for 64 blocks).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os

import fsspec

from tests.daemon.test_daemon_reads import read_and_hash

MiB = 2**20


def _object(s3, path: str, size_mib: int) -> str:
    digest = hashlib.sha256()
    with s3.open(path, "wb", block_size=64 * MiB) as file:
        for i in range(size_mib):
            piece = bytes([i % 256]) + os.urandom(MiB - 1)
            file.write(piece)
            digest.update(piece)
    return digest.hexdigest()


def test_four_clients_of_a_daemon_with_a_small_memory_tier_fetch_each_block_once(
        seaweed, s3, bucket, start_daemon, tmp_path):
    daemon = start_daemon(tiers=[
        {"medium": "memory", "capacity": "32MiB"},
        {"medium": "ssd", "path": str(tmp_path / "d0-ssd"), "capacity": "256MiB"}])
    digest = _object(s3, f"{bucket}/cold", 64)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    readers = [context.Process(target=read_and_hash, args=(
        seaweed.storage_options(), daemon.url, f"{bucket}/cold", queue)) for _ in range(4)]
    for reader in readers:
        reader.start()
    results = [queue.get(timeout=300) for _ in readers]
    for reader in readers:
        reader.join(30)
    assert results == [(digest, 0)] * 4
    assert daemon.stats()["under_store_bytes"] <= (64 + 4) * MiB  # one block per reader


def test_rereading_an_object_larger_than_the_upper_tiers_fetches_it_once(
        seaweed, s3, bucket, tmp_path):
    digest = _object(s3, f"{bucket}/big", 160)
    fs = fsspec.filesystem(
        "tierfs", target_protocol="s3", skip_instance_cache=True,
        target_options=seaweed.storage_options(), block_size=MiB, tiers=[
            {"medium": "memory", "capacity": "32MiB"},
            {"medium": "ssd", "path": str(tmp_path / "ssd"), "capacity": "64MiB"},
            {"medium": "disk", "path": str(tmp_path / "disk"), "capacity": "256MiB"}])
    for _ in range(4):
        with fs.open(f"{bucket}/big", "rb") as file:
            assert hashlib.sha256(file.read()).hexdigest() == digest
    assert fs.cache_stats()["under_store_bytes"] <= 161 * MiB
