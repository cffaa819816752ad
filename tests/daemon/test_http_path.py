"""The fast HTTP path: cached blocks by key and byte range, on kept-alive connections."""

from __future__ import annotations

import os
import urllib.request

import pytest

from tests.daemon.test_daemon_reads import MiB, daemon_fs
from tierfs.cache import ObjectRef, object_version, store_identity
from tierfs.cache.block_key import block_key
from tierfs.daemon_client.http_blocks import HttpBlocks

TOKEN = "h" * 32


def _key(seaweed, s3, path: str, index: int = 0) -> str:
    info = s3.info(path)
    obj = ObjectRef(store_identity("s3", seaweed.storage_options()), path, int(info["size"]),
                    object_version(info))
    return block_key(obj, MiB, index)


def _get(url: str, headers: dict) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


def test_http_only_clients_read_warm_blocks_by_range_without_fetching(seaweed, s3, bucket,
                                                                      start_daemon):
    daemon = start_daemon()
    data = os.urandom(3 * MiB + 11)
    s3.pipe(f"{bucket}/f", data)
    fs = daemon_fs(seaweed, daemon.url, short_circuit=False)
    assert fs.cat_file(f"{bucket}/f") == data  # cold: the daemon fetches
    fetched = fs.cache_stats()["daemon_bytes"]
    hits_before = daemon.stats()["hits"]
    with fs.open(f"{bucket}/f", "rb") as file:
        for offset in (5, MiB - 100, 2 * MiB + 7, 3 * MiB):
            file.seek(offset)
            assert file.read(64 * 1024) == data[offset:offset + 64 * 1024]
    stats = fs.cache_stats()
    assert stats["daemon_bytes"] == fetched  # warm ranges came by key, not as fetches
    assert stats["hits"] >= 5
    assert daemon.stats()["hits"] >= hits_before + 5  # the daemon counts them
    assert daemon.stats()["under_store_bytes"] == len(data)


def test_a_range_is_served_exactly_and_only_cached_keys_are_found(seaweed, s3, bucket,
                                                                   start_daemon):
    daemon = start_daemon()
    data = os.urandom(2 * MiB)
    s3.pipe(f"{bucket}/f", data)
    daemon_fs(seaweed, daemon.url, short_circuit=False).cat_file(f"{bucket}/f")
    key = _key(seaweed, s3, f"{bucket}/f", 1)
    status, body = _get(f"{daemon.url}/v1/blocks/{key}", {"Range": "bytes=100-65635"})
    assert (status, body) == (206, data[MiB + 100:MiB + 65636])
    assert _get(f"{daemon.url}/v1/blocks/{key}", {}) == (200, data[MiB:])
    assert _get(f"{daemon.url}/v1/blocks/{'0' * 32}", {})[0] == 404
    for name in ("..%2F..%2Fetc%2Fpasswd", "tierfs-node-id", "index.sqlite3"):
        assert _get(f"{daemon.url}/v1/blocks/{name}", {})[0] in (400, 404)
    assert _get(f"{daemon.url}/v1/blocks/{key}", {"Range": "bytes=-5"})[0] == 400


def test_one_kept_alive_connection_serves_a_threads_reads(seaweed, s3, bucket, start_daemon):
    daemon = start_daemon()
    data = os.urandom(MiB)
    s3.pipe(f"{bucket}/f", data)
    daemon_fs(seaweed, daemon.url, short_circuit=False).cat_file(f"{bucket}/f")
    blocks = HttpBlocks(daemon.url)
    key = _key(seaweed, s3, f"{bucket}/f")
    assert blocks.read(key, 0, 10) == data[:10]
    connection = blocks._local.connection
    dest = memoryview(bytearray(64 * 1024))
    for offset in range(0, MiB - 64 * 1024, 64 * 1024):
        assert blocks.read(key, offset, offset + 64 * 1024, dest) is dest
        assert dest == data[offset:offset + 64 * 1024]
    assert blocks._local.connection is connection and connection.sock.fileno() >= 0


def test_the_http_path_needs_the_token(seaweed, s3, bucket, start_daemon):
    daemon = start_daemon(server={"token": TOKEN})
    data = os.urandom(MiB)
    s3.pipe(f"{bucket}/f", data)
    daemon_fs(seaweed, daemon.url, short_circuit=False, daemon_token=TOKEN).cat_file(
        f"{bucket}/f")
    key = _key(seaweed, s3, f"{bucket}/f")
    assert HttpBlocks(daemon.url, token="").read(key, 0, 10) is None
    assert HttpBlocks(daemon.url, token=TOKEN).read(key, 0, 10) == data[:10]
    assert HttpBlocks(daemon.url, token=TOKEN).read(key, 0, None) == data
    with pytest.raises(PermissionError):
        daemon_fs(seaweed, daemon.url, short_circuit=False, daemon_token="w" * 32,
                  daemon_fallback="error").cat_file(f"{bucket}/f")
