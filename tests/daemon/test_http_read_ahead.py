"""Read-ahead on the HTTP path: while a sequential reader reads a block, the next ones are
already asked for on its connection; a jump ends the sequence after at most ``_DEPTH``
unread blocks."""

from __future__ import annotations

import os
import time

from tests.daemon.test_daemon_reads import MiB, daemon_fs
from tierfs.daemon_client.http_read_ahead import _DEPTH


def _warm_file(seaweed, s3, bucket, daemon, blocks: int):
    data = os.urandom(blocks * MiB)
    s3.pipe(f"{bucket}/f", data)
    fs = daemon_fs(seaweed, daemon.url, short_circuit=False)
    assert fs.cat_file(f"{bucket}/f") == data  # cold: the daemon fetches and caches
    return fs, data


def _requests(daemon) -> int:
    return daemon.stats()["block_server"]["requests"]


def test_the_next_block_is_on_its_way_before_the_reader_asks(seaweed, s3, bucket,
                                                             start_daemon):
    daemon = start_daemon()
    blocks = 5 + _DEPTH
    fs, data = _warm_file(seaweed, s3, bucket, daemon, blocks)
    asked = _requests(daemon)
    with fs.open(f"{bucket}/f", "rb") as file:
        for index in range(3):
            assert file.read(MiB) == data[index * MiB:(index + 1) * MiB]
        deadline = time.monotonic() + 10
        while _requests(daemon) < asked + 3 + _DEPTH and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _requests(daemon) == asked + 3 + _DEPTH  # blocks 0-2, and the next asked ahead
        time.sleep(0.5)  # their answers reach the client's socket
        daemon.kill()  # asking for more then fails, and must not fail the reads asked ahead
        fetched = fs.cache_stats()["under_store_bytes"]
        for index in range(3, 3 + _DEPTH):  # received before the daemon died
            assert file.read(MiB) == data[index * MiB:(index + 1) * MiB]
        assert fs.cache_stats()["under_store_bytes"] == fetched  # not from the store
        index = 3 + _DEPTH  # the daemon gone: from the store
        assert file.read(MiB) == data[index * MiB:(index + 1) * MiB]


def test_a_jump_costs_at_most_the_blocks_read_ahead_and_bytes_stay_exact(seaweed, s3, bucket,
                                                                        start_daemon):
    daemon = start_daemon()
    fs, data = _warm_file(seaweed, s3, bucket, daemon, 8)
    asked = _requests(daemon)
    reads = [(0, MiB), (MiB, MiB), (6 * MiB, MiB), (3 * MiB + 5, 1000), (3 * MiB + 1005, 50),
             (7 * MiB, MiB), (2 * MiB, MiB // 2), (2 * MiB + MiB // 2, MiB // 2)]
    with fs.open(f"{bucket}/f", "rb") as file:
        for offset, size in reads:
            file.seek(offset)
            assert file.read(size) == data[offset:offset + size]
    assert _requests(daemon) - asked <= len(reads) + 2 * _DEPTH  # two jumps
    assert daemon.stats()["under_store_bytes"] == len(data)
