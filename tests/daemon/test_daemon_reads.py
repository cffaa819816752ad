"""Clients read through a real daemon process: shared fetches, short-circuit, HTTP path."""

from __future__ import annotations

import hashlib
import multiprocessing
import os

import fsspec

MiB = 2**20


def daemon_fs(seaweed, daemon_url: str, **options):
    return fsspec.filesystem(
        "tierfs", target_protocol="s3", skip_instance_cache=True,
        target_options=seaweed.storage_options() | {"skip_instance_cache": True},
        daemon=daemon_url, **options,
    )


def test_a_client_reads_byte_exact_through_the_daemon_over_http(seaweed, s3, bucket,
                                                                  start_daemon):
    daemon = start_daemon()
    data = os.urandom(5 * MiB + 3)
    s3.pipe(f"{bucket}/f", data)
    fs = daemon_fs(seaweed, daemon.url, short_circuit=False)
    assert fs.cat_file(f"{bucket}/f") == data
    assert fs.cat_file(f"{bucket}/f", 1000, 3 * MiB) == data[1000:3 * MiB]
    stats = fs.cache_stats()
    assert stats["under_store_bytes"] == 0  # the daemon fetched, not the client
    assert stats["daemon_bytes"] >= len(data)
    assert daemon.stats()["under_store_bytes"] == len(data)


def test_same_host_clients_read_cached_blocks_from_the_tier_files(seaweed, s3, bucket,
                                                                  start_daemon):
    daemon = start_daemon()
    data = os.urandom(4 * MiB)
    s3.pipe(f"{bucket}/f", data)
    daemon_fs(seaweed, daemon.url, short_circuit=False).cat_file(f"{bucket}/f")  # warm it
    reader = daemon_fs(seaweed, daemon.url)
    assert reader.cat_file(f"{bucket}/f") == data
    stats = reader.cache_stats()
    assert stats["daemon_bytes"] == 0 and stats["under_store_bytes"] == 0
    assert stats["hits"] == 4
    assert [t["medium"] for t in stats["tiers"]] == ["ssd"]


def test_short_circuit_hits_are_reported_to_the_daemon(seaweed, s3, bucket, start_daemon):
    import time

    daemon = start_daemon()
    s3.pipe(f"{bucket}/f", os.urandom(3 * MiB))
    daemon_fs(seaweed, daemon.url, short_circuit=False).cat_file(f"{bucket}/f")  # warm it
    reader = daemon_fs(seaweed, daemon.url)
    for _ in range(2):
        reader.cat_file(f"{bucket}/f")
    deadline = time.monotonic() + 15
    while daemon.stats()["short_circuit_hits"] < 6 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert daemon.stats()["short_circuit_hits"] == 6  # its eviction order sees them


def read_and_hash(storage_options, daemon_url, path, queue):
    fs = fsspec.filesystem("tierfs", target_protocol="s3", target_options=storage_options,
                           daemon=daemon_url, skip_instance_cache=True)
    digest = hashlib.sha256()
    buffer = bytearray(4 * MiB)
    with fs.open(path, "rb") as file:
        while count := file.readinto(buffer):
            digest.update(memoryview(buffer)[:count])
    queue.put((digest.hexdigest(), fs.cache_stats()["under_store_bytes"]))


def test_four_processes_reading_one_cold_file_fetch_each_byte_once(seaweed, s3, bucket,
                                                                    start_daemon):
    daemon = start_daemon()
    size = 256 * MiB
    chunk = os.urandom(MiB)
    with s3.open(f"{bucket}/big", "wb", block_size=64 * MiB) as file:
        digest = hashlib.sha256()
        for i in range(256):
            piece = bytes([i]) + chunk[1:]
            file.write(piece)
            digest.update(piece)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    readers = [context.Process(target=read_and_hash,
                               args=(seaweed.storage_options(), daemon.url, f"{bucket}/big",
                                     queue))
               for _ in range(4)]
    for reader in readers:
        reader.start()
    results = [queue.get(timeout=300) for _ in readers]
    for reader in readers:
        reader.join(30)
    assert results == [(digest.hexdigest(), 0)] * 4
    assert daemon.stats()["under_store_bytes"] == size


def test_the_second_node_reads_a_cold_block_from_its_peer(seaweed, s3, bucket, start_daemon):
    from tierfs.embedded import free_ports

    ports = free_ports(2)
    members = [f"http://127.0.0.1:{port}" for port in ports]
    first = start_daemon("a", port=ports[0], peers={"self": members[0], "members": members})
    second = start_daemon("b", port=ports[1], peers={"self": members[1], "members": members})
    # 16 blocks, so that node one owns at least one of them in all but one run in 65536
    data = os.urandom(16 * MiB)
    s3.pipe(f"{bucket}/f", data)
    # node one reads everything; each block is fetched by its owner, once
    assert daemon_fs(seaweed, first.url, short_circuit=False).cat_file(f"{bucket}/f") == data
    fetched_before = first.stats()["under_store_bytes"] + second.stats()["under_store_bytes"]
    assert fetched_before == len(data)
    # node two's cold read: the blocks it lacks come from its peer, the store serves nothing
    assert daemon_fs(seaweed, second.url, short_circuit=False).cat_file(f"{bucket}/f") == data
    after = first.stats()["under_store_bytes"] + second.stats()["under_store_bytes"]
    assert after == fetched_before
    assert second.stats()["peer_bytes"] > 0


def test_a_dead_peer_is_skipped_and_the_under_store_serves(seaweed, s3, bucket, start_daemon):
    from tierfs.embedded import free_ports

    ports = free_ports(2)
    members = [f"http://127.0.0.1:{port}" for port in ports]
    alone = start_daemon("a", port=ports[0],
                         peers={"self": members[0], "members": members, "timeout": 0.3})
    # each 1 MiB block has an even chance of being owned by the dead peer; with six blocks
    # all of them landed on the live node one run in 64 and the peer was never asked.
    # With 24 blocks that is one run in 16 million.
    data = os.urandom(24 * MiB)
    s3.pipe(f"{bucket}/f", data)
    assert daemon_fs(seaweed, alone.url, short_circuit=False).cat_file(f"{bucket}/f") == data
    stats = alone.stats()
    assert stats["under_store_bytes"] == len(data)
    assert [p["down"] for p in stats["peers"] if not p["self"]] == [True]
