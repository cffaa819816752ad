"""The daemon's shuffle under failures: SIGKILL mid-shuffle, torn appends, capacity, retention."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

import tierfs.shuffle
from tests.shuffle.daemons import ShuffleDaemon
from tierfs.daemon_client import DaemonUnavailable
from tierfs.embedded import free_ports
from tierfs.shuffle import MissingMapOutputError
from tierfs.shuffle.compression import Compressor
from tierfs.shuffle.frames import CODEC_NONE, BlockId, encode_block
from tierfs_server.config import parse_config


@pytest.fixture
def own_daemon(tmp_path):
    started = []

    def start(**settings) -> ShuffleDaemon:
        daemon = ShuffleDaemon(tmp_path / f"d{len(started)}", **settings).start()
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


def _write(shuffle, map_id: int, attempt: int, partitions: int, commit: bool = True):
    writer = shuffle.map_writer(map_id, attempt)
    for partition in range(partitions):
        writer.write(partition, f"{map_id}.{attempt}.{partition};".encode() * 500)
    return writer.commit() if commit else writer


def _expected(map_ids, partition: int, attempt: int = 0) -> bytes:
    return b"".join(f"{m}.{attempt}.{partition};".encode() * 500 for m in map_ids)


def test_a_daemon_killed_mid_shuffle_fails_readers_loudly_then_serves_exact_rows(own_daemon):
    daemon = own_daemon()
    shuffle = tierfs.shuffle.open_service(daemon.url, block_size="2KiB").create("killed", 2)
    _write(shuffle, 0, 0, 2)
    _write(shuffle, 1, 0, 2)
    unfinished = _write(shuffle, 2, 0, 2, commit=False)
    unfinished._push_all()  # map 2 pushed blocks but did not commit
    daemon.kill()
    with pytest.raises(DaemonUnavailable):
        shuffle.reader(0, map_ids=range(3)).read_bytes()
    with pytest.raises(DaemonUnavailable):
        unfinished.commit()
    daemon.start()  # same directory and port: pushed blocks and commit records survive
    with pytest.raises(MissingMapOutputError, match=r"map\(s\) 2"):
        shuffle.reader(0, map_ids=range(3)).read_bytes()
    _write(shuffle, 2, 1, 2)  # the engine retries map 2
    for partition in range(2):
        got = shuffle.reader(partition, map_ids=range(3)).read_bytes()
        assert got == _expected([0, 1], partition) + _expected([2], partition, attempt=1)


def test_a_block_torn_by_a_crash_is_cut_and_later_pushes_read_back(own_daemon):
    daemon = own_daemon()
    service = tierfs.shuffle.open_service(daemon.url)
    shuffle = service.create("torn", 1)
    _write(shuffle, 0, 0, 1)
    daemon.kill()
    header, payload = encode_block(BlockId(9, 0, 0), 0, 0, b"half-written" * 100,
                                   Compressor(CODEC_NONE).compress)
    with open(Path(daemon.shuffle_dir) / "torn" / "p0.data", "ab") as file:
        file.write((header + payload)[:700])  # a push the crash interrupted
    daemon.start()
    _write(shuffle, 1, 0, 1)
    assert shuffle.reader(0, map_ids=[0, 1]).read_bytes() == _expected([0, 1], 0)


def test_pushes_beyond_the_capacity_are_refused(own_daemon):
    daemon = own_daemon(capacity="64KiB")
    shuffle = tierfs.shuffle.open_service(daemon.url, compression=None).create("full", 1)
    writer = shuffle.map_writer(0, 0)
    writer.write(0, b"x" * 200_000)
    with pytest.raises(OSError, match="507.*capacity"):
        writer.commit()


def test_idle_shuffles_are_deleted_after_the_retention(own_daemon):
    daemon = own_daemon(retention=1)
    service = tierfs.shuffle.open_service(daemon.url)
    _write(service.create("short-lived", 1), 0, 0, 1)
    deadline = time.monotonic() + 15
    while service.list() and time.monotonic() < deadline:
        time.sleep(0.25)
    assert service.list() == []
    assert not (Path(daemon.shuffle_dir) / "short-lived").exists()


def test_metrics_and_stats_count_shuffle_bytes(open_backend, shuffle_daemon):
    shuffle = open_backend("daemon").create(f"m-{uuid.uuid4().hex[:8]}", 1)
    before = json.loads(shuffle_daemon.process.get("/v1/stats")[1])["shuffle"]
    _write(shuffle, 0, 0, 1)
    shuffle.reader(0).read_bytes()
    after = json.loads(shuffle_daemon.process.get("/v1/stats")[1])["shuffle"]
    assert after["shuffle_pushed_bytes"] > before["shuffle_pushed_bytes"]
    assert after["shuffle_served_bytes"] > before["shuffle_served_bytes"]
    metrics = shuffle_daemon.process.get("/metrics")[1].decode()
    assert "tierfs_shuffle_pushed_bytes_total" in metrics
    assert "tierfs_shuffle_used_bytes" in metrics
    page = shuffle_daemon.process.get("/")[1].decode()
    assert "<table id=shuffle>" in page and "pushed" in page


def test_a_daemon_without_a_shuffle_section_is_named(own_daemon):
    daemon = own_daemon(with_shuffle=False)
    with pytest.raises(ValueError, match=r"no \[shuffle\] section"):
        tierfs.shuffle.open_service(daemon.url)


@pytest.mark.parametrize("table, message", [
    ({"capacity": "1GiB"}, "shuffle.dir: required"),
    ({"dir": "/tmp/x", "capacity": "lots"}, "shuffle.capacity"),
    ({"dir": "/tmp/x", "retention": -5}, "shuffle.retention"),
    ({"dir": "/tmp/x", "speed": 1}, "shuffle.speed: unknown key"),
])
def test_bad_shuffle_configuration_names_the_key(table, message):
    raw = {"mounts": {"m": {"url": "file:///tmp"}}, "shuffle": table}
    with pytest.raises(ValueError, match=message):
        parse_config(raw)


def test_daemon_urls_without_an_address_are_named(monkeypatch):
    monkeypatch.delenv("TIERFS_DAEMON", raising=False)
    with pytest.raises(ValueError, match="TIERFS_DAEMON is not set"):
        tierfs.shuffle.open_service("daemon://")
    with pytest.raises(ValueError, match="expected daemon://"):
        tierfs.shuffle.open_service("daemon+ftp://host")


def test_partitions_spread_over_peer_daemons_and_read_back_exactly(tmp_path):
    ports = free_ports(2)
    daemons = [ShuffleDaemon(tmp_path / f"peer{i}", port=port, peers=ports).start()
               for i, port in enumerate(ports)]
    try:
        service = tierfs.shuffle.open_service(daemons[0].url)
        shuffle = service.create("spread", 16)
        for map_id in range(3):
            _write(shuffle, map_id, 0, 16)
        holders = {i for i, d in enumerate(daemons) for p in range(16)
                   if (Path(d.shuffle_dir) / "spread" / f"p{p}.data").exists()}
        assert holders == {0, 1}  # each daemon owns some of the partitions
        through_other = tierfs.shuffle.open_service(daemons[1].url).get("spread")
        for partition in range(16):
            expected = _expected(range(3), partition)
            assert shuffle.reader(partition, map_ids=range(3)).read_bytes() == expected
            assert through_other.reader(partition, map_ids=range(3)).read_bytes() == expected
        assert service.list()[0].committed_maps == 3
        shuffle.delete()
        assert service.list() == []
    finally:
        for daemon in daemons:
            daemon.stop()
