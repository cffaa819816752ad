"""The fast HTTP path: cached blocks by key and byte range, on kept-alive connections,
served on the daemon's data port (and on its main port, for clients of its unix socket)."""

from __future__ import annotations

import json
import os
import socket
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


def _blocks_url(daemon, where: str) -> str:
    """The base URL serving ``/v1/blocks/{key}``: the daemon's main port or its data port."""
    if where == "main port":
        return daemon.url
    status, body = daemon.get("/v1/describe")
    assert status == 200
    return f"http://127.0.0.1:{json.loads(body)['block_port']}"


PORTS = pytest.mark.parametrize("where", ["data port", "main port"])


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


@PORTS
def test_a_range_is_served_exactly_and_only_cached_keys_are_found(seaweed, s3, bucket,
                                                                   start_daemon, where):
    daemon = start_daemon()
    data = os.urandom(2 * MiB)
    s3.pipe(f"{bucket}/f", data)
    daemon_fs(seaweed, daemon.url, short_circuit=False).cat_file(f"{bucket}/f")
    key = _key(seaweed, s3, f"{bucket}/f", 1)
    url = _blocks_url(daemon, where)
    status, body = _get(f"{url}/v1/blocks/{key}", {"Range": "bytes=100-65635"})
    assert (status, body) == (206, data[MiB + 100:MiB + 65636])
    assert _get(f"{url}/v1/blocks/{key}", {"Range": f"bytes={MiB - 10}-"}) == (206, data[-10:])
    assert _get(f"{url}/v1/blocks/{key}", {}) == (200, data[MiB:])
    assert _get(f"{url}/v1/blocks/{'0' * 32}", {})[0] == 404
    for name in ("..%2F..%2Fetc%2Fpasswd", "tierfs-node-id", "index.sqlite3"):
        assert _get(f"{url}/v1/blocks/{name}", {})[0] in (400, 404)
    assert _get(f"{url}/v1/blocks/{key}", {"Range": "bytes=-5"})[0] == 400


def _exchange(port: int, request: bytes) -> bytes:
    """Everything the data port answers to ``request`` before it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_the_data_port_answers_only_block_reads_and_closes_after_a_bad_request(
        seaweed, s3, bucket, start_daemon):
    daemon = start_daemon()
    s3.pipe(f"{bucket}/f", os.urandom(MiB))
    daemon_fs(seaweed, daemon.url, short_circuit=False).cat_file(f"{bucket}/f")
    key = _key(seaweed, s3, f"{bucket}/f")
    port = int(_blocks_url(daemon, "data port").rsplit(":", 1)[1])
    assert port != int(daemon.url.rsplit(":", 1)[1])
    bad = {
        b"POST /v1/blocks/%s HTTP/1.1\r\n\r\n" % key.encode(): b"405",
        b"GET /v1/stats HTTP/1.1\r\n\r\n": b"404",
        b"GET /v1/blocks/../../etc/passwd HTTP/1.1\r\n\r\n": b"400",
        b"GET /v1/blocks/%s HTTP/1.1\r\nRange: bytes=9-3\r\n\r\n" % key.encode(): b"400",
        b"GET /v1/blocks/%s HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc" % key.encode(): b"400",
        b"GET /v1/blocks/%s\r\n\r\n" % key.encode(): b"405",
    }
    for request, status in bad.items():
        answer = _exchange(port, request)
        assert answer.startswith(b"HTTP/1.1 " + status), (request, answer[:80])
        assert b"Connection: close" in answer.split(b"\r\n\r\n")[0]
    # two reads on one connection, the second asking to close: both answered, then closed
    two = (b"GET /v1/blocks/%s HTTP/1.1\r\nRange: bytes=0-9\r\n\r\n" % key.encode()
           + b"GET /v1/blocks/%s HTTP/1.1\r\nRange: bytes=0-9\r\nConnection: close\r\n\r\n"
           % key.encode())
    assert _exchange(port, two).count(b"HTTP/1.1 206 Partial Content") == 2
    assert daemon.stats()["block_server"]["bad_requests"] == len(bad)


@pytest.mark.parametrize("poll_us", [0, 2000])
def test_warm_reads_are_exact_whether_the_data_port_polls_or_not(seaweed, s3, bucket,
                                                                 start_daemon, poll_us):
    daemon = start_daemon(server={"block_poll_us": poll_us})
    data = os.urandom(2 * MiB)
    s3.pipe(f"{bucket}/f", data)
    fs = daemon_fs(seaweed, daemon.url, short_circuit=False)
    assert fs.cat_file(f"{bucket}/f") == data
    with fs.open(f"{bucket}/f", "rb") as file:
        for offset in range(0, 2 * MiB, 192 * 1024):
            file.seek(offset)
            assert file.read(200 * 1024) == data[offset:offset + 200 * 1024]
    assert json.loads(daemon.get("/v1/describe")[1])["block_poll_us"] == poll_us
    figures = daemon.stats()["block_server"]
    polled = figures["polls_found"] + figures["polls_missed"] + figures["polls_skipped"]
    assert (polled > 0) == (poll_us > 0)
    assert daemon.stats()["under_store_bytes"] == len(data)


def test_a_daemon_that_stops_answering_times_a_read_out():
    with socket.create_server(("127.0.0.1", 0)) as server:
        blocks = HttpBlocks(f"http://127.0.0.1:{server.getsockname()[1]}", timeout=0.2,
                            poll_us=100)
        assert blocks.read("k", 0, 10) is None  # accepted, never answered: no hang


def test_block_port_false_leaves_reads_to_the_main_port(seaweed, s3, bucket, start_daemon):
    daemon = start_daemon(server={"block_port": False})
    data = os.urandom(MiB)
    s3.pipe(f"{bucket}/f", data)
    fs = daemon_fs(seaweed, daemon.url, short_circuit=False)
    assert fs.cat_file(f"{bucket}/f") == data
    assert fs.cat_file(f"{bucket}/f") == data  # warm: a range read on the main port
    assert json.loads(daemon.get("/v1/describe")[1])["block_port"] is None
    assert "block_server" not in daemon.stats()
    assert daemon.stats()["under_store_bytes"] == len(data)


@PORTS
def test_one_kept_alive_connection_serves_a_threads_reads(seaweed, s3, bucket, start_daemon,
                                                         where):
    daemon = start_daemon()
    data = os.urandom(MiB)
    s3.pipe(f"{bucket}/f", data)
    daemon_fs(seaweed, daemon.url, short_circuit=False).cat_file(f"{bucket}/f")
    blocks = HttpBlocks(_blocks_url(daemon, where))
    key = _key(seaweed, s3, f"{bucket}/f")
    assert blocks.read(key, 0, 10) == data[:10]
    connection = blocks._local.connection
    dest = memoryview(bytearray(64 * 1024))
    for offset in range(0, MiB - 64 * 1024, 64 * 1024):
        assert blocks.read(key, offset, offset + 64 * 1024, dest) is dest
        assert dest == data[offset:offset + 64 * 1024]
    assert blocks._local.connection is connection and connection.sock.fileno() >= 0


@PORTS
def test_the_http_path_needs_the_token(seaweed, s3, bucket, start_daemon, where):
    daemon = start_daemon(server={"token": TOKEN})
    data = os.urandom(MiB)
    s3.pipe(f"{bucket}/f", data)
    daemon_fs(seaweed, daemon.url, short_circuit=False, daemon_token=TOKEN).cat_file(
        f"{bucket}/f")
    key = _key(seaweed, s3, f"{bucket}/f")
    url = _blocks_url(daemon, where)
    assert HttpBlocks(url, token="").read(key, 0, 10) is None
    assert HttpBlocks(url, token="w" * 32).read(key, 0, 10) is None
    assert _get(f"{url}/v1/blocks/{key}", {})[0] == 401
    assert HttpBlocks(url, token=TOKEN).read(key, 0, 10) == data[:10]
    assert HttpBlocks(url, token=TOKEN).read(key, 0, None) == data
    with pytest.raises(PermissionError):
        daemon_fs(seaweed, daemon.url, short_circuit=False, daemon_token="w" * 32,
                  daemon_fallback="error").cat_file(f"{bucket}/f")
