"""Descriptor passing: clients that cannot open the daemon's tier files get descriptors.

A real daemon process serves its descriptor socket; clients are this process (as root,
talking to the socket directly) and a forked client running as ``nobody``, for whom the
tier directory (under pytest's 0700 tmp dir) stays closed.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.daemon.helpers_other_user import read_as_nobody
from tests.daemon.test_daemon_reads import daemon_fs
from tierfs.cache import ObjectRef, object_version, store_identity
from tierfs.cache.block_key import block_key
from tierfs.daemon_client import DaemonClient
from tierfs.daemon_client.descriptor_protocol import MAX_KEYS, ProtocolError
from tierfs.daemon_client.descriptors import DescriptorClient, DescriptorTier
from tierfs.daemon_client.hit_reports import HitReporter
from tierfs.daemon_client.protocol import BlockAddress
from tierfs_server.access import AccessPolicy, Peer

MiB = 2**20
TOKEN = "t" * 32


@pytest.fixture
def socket_dir():
    """A directory every user may enter (pytest's tmp dirs are 0700 for root only)."""
    path = Path(tempfile.mkdtemp(prefix="tierfs-sock-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _sockets(socket_dir: Path, **server) -> dict:
    return {"unix_socket": str(socket_dir / "daemon.sock"),
            "fd_socket": str(socket_dir / "fd.sock")} | server


def _keys(seaweed, s3, path: str, blocks: int) -> list[str]:
    info = s3.info(path)
    obj = ObjectRef(store_identity("s3", seaweed.storage_options()), path, int(info["size"]),
                    object_version(info))
    return [block_key(obj, MiB, index) for index in range(blocks)]


def _descriptor_tier(daemon, socket_dir: Path, token: str | None = None) -> DescriptorTier:
    client = DaemonClient(daemon.url, token)
    reporter = HitReporter(client)
    description = client.describe()
    path = str(socket_dir / "fd.sock")
    assert DescriptorTier.if_admitted(path, "another node", token, [], reporter) is None
    tier = DescriptorTier.if_admitted(path, description["node_id"], token,
                                      description["tiers"], reporter)
    assert tier is not None
    return tier


def _warm(seaweed, daemon, path: str) -> None:
    """Have the daemon fetch ``path`` and persist its blocks (stats wait for the writes)."""
    daemon_fs(seaweed, daemon.url, short_circuit=False).cat_file(path)
    daemon.stats()


@pytest.mark.skipif(os.geteuid() != 0, reason="becoming nobody needs root")
@pytest.mark.parametrize("tier_dir", ["closed", "visible"])
def test_a_client_running_as_nobody_reads_through_passed_descriptors(
        seaweed, s3, bucket, start_daemon, socket_dir, tier_dir):
    # closed: under pytest's 0700 tmp dir; visible: the directory can be listed, but its
    # block files are 0600, so plain short-circuit reads cannot work either way
    tiers = None if tier_dir == "closed" else [
        {"medium": "memory", "capacity": "64MiB"},
        {"medium": "ssd", "path": str(socket_dir / "ssd"), "capacity": "1GiB"}]
    daemon = start_daemon(server=_sockets(socket_dir), tiers=tiers)
    data = os.urandom(6 * MiB + 5)
    path = f"{bucket}/f"
    s3.pipe(path, data)
    _warm(seaweed, daemon, path)
    fetched = daemon.stats()["under_store_bytes"]
    rng = random.Random(7)
    ranges = [(0, len(data))] + [
        (start, start + 64 * 1024) for start in
        (rng.randrange(len(data) - 64 * 1024) for _ in range(40))]
    context = multiprocessing.get_context("fork")
    results, done = context.Queue(), context.Event()
    child = context.Process(target=read_as_nobody, args=(
        seaweed.storage_options(), str(socket_dir / "daemon.sock"), path, ranges, results,
        done))
    child.start()
    try:
        outcome = results.get(timeout=120)
        assert "error" not in outcome, outcome.get("error")
        assert outcome["uid"] == 65534
        assert outcome["tiers"] == ["DescriptorTier"]  # plain short-circuit could not work
        assert outcome["pieces"] == [data[start:end] for start, end in ranges]
        stats = outcome["stats"]
        assert stats["under_store_bytes"] == 0 and stats["daemon_bytes"] == 0
        assert daemon.stats()["under_store_bytes"] == fetched  # the store was not asked
        assert daemon.stats()["descriptors"]["descriptors"] >= 7  # one per block at least
        assert daemon.stats()["descriptors"]["requests"] == 1  # all asked when it opened
        assert stats["hits"] >= len(ranges)
        # every block's first hit is reported; resident views report the rest at most once
        # a second (``Tuning.view_report_seconds``), so some wait for the next hit
        deadline = time.monotonic() + 15
        while daemon.stats()["short_circuit_hits"] < 7 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert 7 <= daemon.stats()["short_circuit_hits"] <= stats["hits"]
    finally:
        done.set()
        child.join(30)


def test_a_client_without_the_token_gets_no_descriptor(seaweed, s3, bucket, start_daemon,
                                                       socket_dir):
    daemon = start_daemon(server=_sockets(socket_dir, token=TOKEN))
    with pytest.raises(PermissionError, match="not admitted"):
        DescriptorClient(str(socket_dir / "fd.sock"), token="").check()
    with pytest.raises(PermissionError, match="not admitted"):
        DescriptorClient(str(socket_dir / "fd.sock"), token="w" * 32).check()
    s3.pipe(f"{bucket}/f", os.urandom(MiB))
    DaemonClient(daemon.url, TOKEN).fetch_blocks([BlockAddress(
        "tests", f"{bucket}/f", MiB, object_version(s3.info(f"{bucket}/f")), 0)])
    admitted = DescriptorClient(str(socket_dir / "fd.sock"), token=TOKEN)
    answer = admitted.open_block(_keys(seaweed, s3, f"{bucket}/f", 1)[0])
    assert answer is not None  # a descriptor, or the bytes while only in memory
    if isinstance(answer, int):
        os.close(answer)
    assert daemon.stats()["descriptors"]["refused"] == 2


def test_a_file_s_first_blocks_come_in_one_request_and_are_not_hits_yet(
        seaweed, s3, bucket, start_daemon, socket_dir):
    daemon = start_daemon(server=_sockets(socket_dir))
    data = os.urandom(6 * MiB + 5)
    s3.pipe(f"{bucket}/f", data)
    _warm(seaweed, daemon, f"{bucket}/f")
    keys = _keys(seaweed, s3, f"{bucket}/f", 7)
    tier = _descriptor_tier(daemon, socket_dir)
    asked_one_by_one = []
    open_block = tier._client.open_block
    tier._client.open_block = lambda key: asked_one_by_one.append(key) or open_block(key)
    before = daemon.stats()

    tier.opening(keys + ["0" * 32])  # and a block the daemon does not hold
    after_opening = daemon.stats()
    for index, key in enumerate(keys):
        assert bytes(tier.get(key, 0, None)) == data[index * MiB:(index + 1) * MiB]

    assert asked_one_by_one == []
    opened = {name: after_opening["descriptors"][name] - before["descriptors"][name]
              for name in ("requests", "descriptors", "absent")}
    assert opened == {"requests": 1, "descriptors": 7, "absent": 1}
    assert after_opening["short_circuit_hits"] == before["short_circuit_hits"]
    assert tier.get("0" * 32, 0, None) is None and asked_one_by_one == ["0" * 32]


def _two_files_for_one_small_ssd(seaweed, s3, bucket, start_daemon, socket_dir, ssd):
    """A daemon with a 4 MiB ssd tier holding ``first`` (3 MiB), which warming ``second``
    (as large) evicts; returns the daemon, first's bytes and its block keys."""
    daemon = start_daemon(server=_sockets(socket_dir), tiers=[
        {"medium": "ssd", "path": str(ssd), "capacity": "4MiB"}])
    first, second = os.urandom(3 * MiB), os.urandom(3 * MiB)
    s3.pipe(f"{bucket}/first", first)
    s3.pipe(f"{bucket}/second", second)
    _warm(seaweed, daemon, f"{bucket}/first")
    return daemon, first, _keys(seaweed, s3, f"{bucket}/first", 3)


def test_descriptors_asked_ahead_of_blocks_evicted_meanwhile_are_closed(
        seaweed, s3, bucket, start_daemon, socket_dir, tmp_path):
    ssd = tmp_path / "small-ssd"
    daemon, first, keys = _two_files_for_one_small_ssd(seaweed, s3, bucket, start_daemon,
                                                       socket_dir, ssd)
    tier = _descriptor_tier(daemon, socket_dir)
    tier.opening(keys)
    _warm(seaweed, daemon, f"{bucket}/second")  # evicts first's blocks, never read here
    assert _deleted_descriptors_into(ssd) > 0
    time.sleep(1.1)
    tier.contains(_keys(seaweed, s3, f"{bucket}/second", 1)[0])  # a call to the daemon sweeps
    assert _deleted_descriptors_into(ssd) == 0  # evicted blocks' space is not held
    for index, key in enumerate(keys):  # what is left reads as the block's own bytes
        view = tier.get(key, 0, None)
        assert view is None or bytes(view) == first[index * MiB:(index + 1) * MiB]


def test_open_many_refuses_names_that_are_not_block_keys_and_too_many_keys(
        start_daemon, socket_dir):
    start_daemon(server=_sockets(socket_dir))
    for keys in (["0" * 32, "../etc/passwd"], ["0" * 32] * (MAX_KEYS + 1), []):
        client = DescriptorClient(str(socket_dir / "fd.sock"))
        with pytest.raises(ProtocolError):
            client.open_blocks(keys)
        client.close()


def test_the_daemon_decides_by_token_or_peer_credentials():
    nobody = Peer(1, 65534, 65534)
    assert AccessPolicy().admits(None, nobody)  # default: any local user may read
    assert not AccessPolicy(token=TOKEN).admits(None, nobody)
    assert AccessPolicy(token=TOKEN).admits(TOKEN, nobody)
    assert AccessPolicy(token=TOKEN, uids=frozenset({65534})).admits(None, nobody)
    assert not AccessPolicy(uids=frozenset({1000})).admits(None, nobody)
    assert AccessPolicy(gids=frozenset({65534})).admits(None, nobody)
    assert not AccessPolicy(token=TOKEN).admits(None, None)  # TCP: the token alone


def _deleted_descriptors_into(directory: Path) -> int:
    count = 0
    for entry in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{entry}")
        except OSError:
            continue
        count += target.startswith(str(directory)) and target.endswith("(deleted)")
    return count


def test_evicted_and_replaced_blocks_never_read_as_other_bytes(
        seaweed, s3, bucket, start_daemon, socket_dir, tmp_path):
    ssd = tmp_path / "small-ssd"
    daemon, first, keys = _two_files_for_one_small_ssd(seaweed, s3, bucket, start_daemon,
                                                       socket_dir, ssd)
    tier = _descriptor_tier(daemon, socket_dir)
    blocks = [first[i * MiB:(i + 1) * MiB] for i in range(3)]
    for key, block in zip(keys, blocks, strict=True):
        assert bytes(tier.get(key, 0, None)) == block  # descriptors now held
    inodes = {key: os.stat(ssd / "blocks" / key[:2] / key).st_ino for key in keys}

    _warm(seaweed, daemon, f"{bucket}/second")  # evicts first's blocks
    evicted = [key for key in keys if not (ssd / "blocks" / key[:2] / key).exists()]
    assert evicted
    for key, block in zip(keys, blocks, strict=True):
        view = tier.get(key, 4096, 4096 + 64 * 1024)
        if key in evicted:
            assert view is None  # a clean miss: the held descriptor was dropped
        else:
            assert bytes(view) == block[4096:4096 + 64 * 1024]
    time.sleep(1.1)
    tier.contains(keys[0])  # a call to the daemon sweeps descriptors of unlinked files
    assert _deleted_descriptors_into(ssd) == 0  # evicted blocks' space is not held

    _warm(seaweed, daemon, f"{bucket}/first")  # the same keys again: new files, new inodes
    for key, block in zip(keys, blocks, strict=True):
        view = tier.get(key, 0, None)
        assert view is None or bytes(view) == block
    replaced = [key for key in keys if (ssd / "blocks" / key[:2] / key).exists()
                and os.stat(ssd / "blocks" / key[:2] / key).st_ino != inodes[key]]
    assert replaced
    for key in replaced:
        assert bytes(tier.get(key, 0, None)) == blocks[keys.index(key)]


def _open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_the_daemon_holds_no_descriptor_per_block_under_16_clients(
        seaweed, s3, bucket, start_daemon, socket_dir):
    daemon = start_daemon(server=_sockets(socket_dir))
    data = os.urandom(8 * MiB)
    s3.pipe(f"{bucket}/f", data)
    _warm(seaweed, daemon, f"{bucket}/f")
    keys = _keys(seaweed, s3, f"{bucket}/f", 8)
    clients = [DescriptorClient(str(socket_dir / "fd.sock")) for _ in range(16)]
    for client in clients:
        client.check()
    before = _open_descriptors(daemon.process.pid)
    held: list[int] = []
    lock = threading.Lock()
    peak = [before]

    def read(client: DescriptorClient) -> None:
        for _ in range(10):
            for key in keys:
                fd = client.open_block(key)
                assert isinstance(fd, int)
                with lock:
                    held.append(fd)
                    peak[0] = max(peak[0], _open_descriptors(daemon.process.pid))

    threads = [threading.Thread(target=read, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(held) == 16 * 10 * 8  # every client holds every descriptor it got
    assert peak[0] <= before + 16  # at most one in flight per connection
    assert _open_descriptors(daemon.process.pid) <= before + 2
    for fd in held:
        assert os.fstat(fd).st_size > MiB  # header + data
        os.close(fd)
    for client in clients:
        client.close()
    assert daemon.stats()["descriptors"]["descriptors"] == 16 * 10 * 8


def test_a_block_only_in_the_daemons_memory_comes_as_bytes(seaweed, s3, bucket, start_daemon,
                                                          socket_dir):
    daemon = start_daemon(server=_sockets(socket_dir), tiers=[
        {"medium": "memory", "capacity": "16MiB"}])
    data = os.urandom(2 * MiB)
    s3.pipe(f"{bucket}/f", data)
    _warm(seaweed, daemon, f"{bucket}/f")
    client = DescriptorClient(str(socket_dir / "fd.sock"))
    keys = _keys(seaweed, s3, f"{bucket}/f", 2)
    assert client.open_block(keys[1]) == data[MiB:]
    assert client.open_block("0" * 32) is None
    assert daemon.stats()["descriptors"]["inline_blocks"] == 1


def test_names_that_are_not_block_keys_are_refused(start_daemon, socket_dir):
    start_daemon(server=_sockets(socket_dir))
    client = DescriptorClient(str(socket_dir / "fd.sock"))
    for name in ("../../../etc/passwd", "/etc/passwd", "ab/" + "0" * 30):
        with pytest.raises(ConnectionError, match="not a block key"):
            client.open_block(name)
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(str(socket_dir / "fd.sock"))
    sock.sendall(b"\xff\xff\xff\xffgarbage")  # a frame longer than allowed: hung up on
    sock.settimeout(5)
    assert sock.recv(10) == b""


@pytest.mark.parametrize("key", ["allowed_uids", "allowed_gids"])
def test_allowed_ids_must_be_lists_of_numbers(key):
    from tierfs_server.config import parse_config

    mounts = {"m": {"url": "s3://bucket", "options": {}}}
    with pytest.raises(ValueError, match=f"server.{key}"):
        parse_config({"server": {key: ["nobody"]}, "mounts": mounts})
    assert parse_config({"server": {key: [65534]}, "mounts": mounts}) is not None


@pytest.mark.parametrize("value", [7, "", "/run/tierfs/daemon.sock"])
def test_the_descriptor_socket_is_a_path_of_its_own(value):
    from tierfs_server.config import parse_config

    with pytest.raises(ValueError, match="server.fd_socket"):
        parse_config({"server": {"unix_socket": "/run/tierfs/daemon.sock", "fd_socket": value},
                      "mounts": {"m": {"url": "s3://bucket", "options": {}}}})
