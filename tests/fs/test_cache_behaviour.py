"""The cache behaves as promised: one fetch per byte, fresh after a change, bounded tiers."""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

import pytest

from tests.fs.conftest import BLOCK
from tierfs.cache import TUNING
from tierfs.cache.huge_pages import HUGE_PAGE, worth_moving


def test_second_full_read_adds_nothing_to_under_store_bytes(make_tierfs, s3, bucket):
    data = os.urandom(6 * BLOCK + 5)
    s3.pipe(f"{bucket}/f", data)
    fs = make_tierfs()
    assert fs.cat_file(f"{bucket}/f") == data
    first = fs.cache_stats()["under_store_bytes"]
    assert first == len(data)
    assert fs.cat_file(f"{bucket}/f") == data
    with fs.open(f"{bucket}/f") as file:
        assert file.read() == data
    stats = fs.cache_stats()
    assert stats["under_store_bytes"] == first
    assert stats["hits"] >= 14


def test_an_overwritten_object_is_read_fresh(make_tierfs, s3, bucket):
    s3.pipe(f"{bucket}/f", b"old" * BLOCK)
    fs = make_tierfs(metadata_ttl=0)
    assert fs.cat_file(f"{bucket}/f") == b"old" * BLOCK
    s3.pipe(f"{bucket}/f", b"new" * BLOCK)  # changed behind tierfs's back
    assert fs.cat_file(f"{bucket}/f") == b"new" * BLOCK


def test_writes_through_tierfs_are_read_back_at_once_with_a_long_ttl(make_tierfs, bucket):
    fs = make_tierfs(metadata_ttl=-1)
    fs.pipe_file(f"{bucket}/f", b"one")
    assert fs.cat_file(f"{bucket}/f") == b"one"
    with fs.open(f"{bucket}/f", "wb") as file:
        file.write(b"two, longer")
    assert fs.cat_file(f"{bucket}/f") == b"two, longer"
    fs.mv(f"{bucket}/f", f"{bucket}/g")
    assert not fs.exists(f"{bucket}/f")
    assert fs.cat_file(f"{bucket}/g") == b"two, longer"
    fs.rm(f"{bucket}/g")
    assert not fs.exists(f"{bucket}/g")


def test_metadata_ttl_minus_one_never_rechecks_the_store(make_tierfs, s3, bucket):
    s3.pipe(f"{bucket}/f", b"a" * 10)
    fs = make_tierfs(metadata_ttl=-1)
    assert fs.info(f"{bucket}/f")["size"] == 10
    s3.pipe(f"{bucket}/f", b"b" * 20)
    assert fs.info(f"{bucket}/f")["size"] == 10
    fs.invalidate_cache(f"{bucket}/f")
    assert fs.info(f"{bucket}/f")["size"] == 20


def test_tiers_stay_within_capacity_while_reading_more_than_all_of_them(make_tierfs, s3,
                                                                        bucket):
    files = {f"{bucket}/f{i}": os.urandom(8 * BLOCK) for i in range(12)}  # 24 MiB
    s3.pipe(files)
    fs = make_tierfs(tiers=[
        {"medium": "memory", "capacity": 2 * BLOCK},
        {"medium": "ssd", "path": None, "capacity": 6 * BLOCK},
        {"medium": "disk", "path": None, "capacity": 12 * BLOCK},
    ])
    for _ in range(2):
        for path, data in files.items():
            with fs.open(path) as file:
                while file.tell() < len(data):
                    start = file.tell()
                    assert file.read(BLOCK // 2) == data[start:start + BLOCK // 2]
                    for tier in fs.cache_stats()["tiers"]:
                        assert tier["used"] <= tier["capacity"], tier
    stats = fs.cache_stats()
    assert stats["evictions"] > 0 and stats["demotions"] > 0
    disk = stats["tiers"][2]
    assert disk["blocks"] > 0 and disk["evictions"] > 0


def test_hits_in_lower_tiers_promote_blocks(make_tierfs, s3, bucket):
    data = os.urandom(4 * BLOCK)
    s3.pipe(f"{bucket}/f", data)
    fs = make_tierfs(tiers=[
        {"medium": "memory", "capacity": BLOCK},
        {"medium": "ssd", "path": None, "capacity": 8 * BLOCK},
    ])
    assert fs.cat_file(f"{bucket}/f") == data
    assert fs.cache_stats()["promotions"] == 0
    assert fs.cat_file(f"{bucket}/f", 0, 10) == data[:10]  # block 0 left memory: from ssd
    stats = fs.cache_stats()
    assert stats["promotions"] >= 1
    assert stats["under_store_bytes"] == len(data)


def test_disk_hits_move_up_to_ssd(make_tierfs, s3, bucket):
    data = os.urandom(6 * BLOCK)
    s3.pipe(f"{bucket}/f", data)
    fs = make_tierfs(tiers=[
        {"medium": "ssd", "path": None, "capacity": 3 * BLOCK},
        {"medium": "disk", "path": None, "capacity": 20 * BLOCK},
    ])
    assert fs.cat_file(f"{bucket}/f") == data  # blocks 0..2 demoted to disk
    assert fs.cache_stats()["tiers"][1]["blocks"] >= 3
    assert fs.cat_file(f"{bucket}/f", 0, BLOCK) == data[:BLOCK]
    stats = fs.cache_stats()
    assert stats["promotions"] == 1
    assert stats["under_store_bytes"] == len(data)


def test_a_corrupted_block_file_is_detected_and_refetched(make_tierfs, s3, bucket, tmp_path):
    data = os.urandom(3 * BLOCK)
    s3.pipe(f"{bucket}/f", data)
    tiers = [{"medium": "ssd", "path": str(tmp_path / "ssd"), "capacity": "64MiB"}]
    fs = make_tierfs(tiers=tiers)
    assert fs.cat_file(f"{bucket}/f") == data
    assert fs.cache_stats()["tiers"][0]["blocks"] == 3  # stats wait for background stores
    block_files = sorted((tmp_path / "ssd" / "blocks").rglob("*"), key=os.path.getmtime)
    block_files = [p for p in block_files if p.is_file()]
    assert len(block_files) == 3
    for victim in block_files:
        raw = bytearray(Path(victim).read_bytes())
        raw[-7] ^= 0x40  # one flipped bit in the data region
        Path(victim).write_bytes(raw)
    assert fs.cat_file(f"{bucket}/f") == data
    stats = fs.cache_stats()
    assert stats["corrupt_blocks"] == 3
    assert stats["under_store_bytes"] == 2 * len(data)
    assert fs.cat_file(f"{bucket}/f") == data  # the refetched blocks are good again
    assert fs.cache_stats()["under_store_bytes"] == 2 * len(data)


@pytest.mark.parametrize("block", [BLOCK, 4 * BLOCK], ids=["read-by-preadv", "mapped"])
def test_an_open_file_never_serves_a_block_rewritten_after_it_read_it(
        make_tierfs, s3, bucket, tmp_path, block):
    """A warm read of checked chunks, through the block's resident view, takes no lock and
    hashes nothing: the file's state, compared after each ``preadv``, or the change watch
    of a mapped block file, asked before each copy, must still reveal the change."""
    data = os.urandom(2 * block)
    s3.pipe(f"{bucket}/f", data)
    fs = make_tierfs(tiers=[{"medium": "ssd", "path": str(tmp_path / "ssd"), "capacity": "64MiB"}],
                     block_size=block)
    dest = bytearray(1000)
    with fs.open(f"{bucket}/f") as file:
        for _ in range(3):  # a miss; a hit that checks the chunk; a hit as checked
            file.seek(block + 100)
            assert file.readinto(dest) == len(dest) and dest == data[block + 100:block + 1100]
            fs.cache_stats()  # the block is stored in the ssd tier
        before = fs.cache_stats()
        assert before["hits"] == 2
        assert 1 in file._resident  # the next read asks the block's view alone
        assert bool(file._resident[1].handle.mapped) == (block > TUNING.mapped_read_limit)
        for victim in (tmp_path / "ssd" / "blocks").rglob("*"):
            if victim.is_file():
                with open(victim, "r+b") as raw:
                    raw.seek(-(block - 500), os.SEEK_END)  # offset 500 of the block's data
                    raw.write(b"\x00" * 4)
        file.seek(block + 100)
        assert file.readinto(dest) == len(dest) and dest == data[block + 100:block + 1100]
    after = fs.cache_stats()
    assert after["corrupt_blocks"] == 1
    assert after["under_store_bytes"] - before["under_store_bytes"] == block  # that block again


def test_warm_small_reads_copy_from_a_resident_view_and_count_as_hits(
        make_tierfs, s3, bucket, monkeypatch):
    data = os.urandom(2 * BLOCK)
    s3.pipe(f"{bucket}/f", data)
    fs = make_tierfs(tiers=[{"medium": "memory", "capacity": "4MiB"}])
    dest = bytearray(1000)
    with fs.open(f"{bucket}/f") as file:
        for _ in range(3):  # a miss, then hits the long way, which leave a view
            file.seek(BLOCK + 7)
            assert file.readinto(dest) == len(dest)
            fs.cache_stats()  # the block is stored
    monkeypatch.setattr(fs.cache, "read_block", None)  # the tiers must not be asked
    before = fs.cache_stats()["hits"]
    with fs.open(f"{bucket}/f") as file:  # a file opened again finds the view too
        file.seek(BLOCK + 7)
        assert file.readinto(dest) == len(dest) and dest == data[BLOCK + 7:BLOCK + 1007]
        file.seek(BLOCK + 100)
        assert file.read(50) == data[BLOCK + 100:BLOCK + 150]
    assert fs.cache_stats()["hits"] == before + 2


def test_warm_reads_across_blocks_copy_from_the_view_of_each_block(
        make_tierfs, s3, bucket, monkeypatch):
    data = os.urandom(3 * BLOCK)
    s3.pipe(f"{bucket}/f", data)
    fs = make_tierfs(tiers=[{"medium": "memory", "capacity": f"{4 * BLOCK}B"}])
    start, end = BLOCK - 100, 2 * BLOCK + 100  # the end of block 0, all of 1, the head of 2
    with fs.open(f"{bucket}/f") as file:
        for _ in range(3):  # misses, then hits the long way, which leave a view per block
            file.seek(start)
            assert file.read(end - start) == data[start:end]
            fs.cache_stats()  # the blocks are stored
        assert {0, 1, 2} <= set(file._resident)
    monkeypatch.setattr(fs.cache, "read_block", None)  # the tiers must not be asked
    before = fs.cache_stats()["hits"]
    with fs.open(f"{bucket}/f") as file:
        dest = bytearray(end - start)
        file.seek(start)
        assert file.readinto(dest) == len(dest) and dest == data[start:end]
        assert fs.cache_stats()["hits"] == before + 3  # counted while the file is open
        file.seek(start + 1)
        assert file.read(BLOCK) == data[start + 1:start + 1 + BLOCK]
    assert fs.cache_stats()["hits"] == before + 3 + 2  # a hit for each block of each read


def test_a_view_of_a_block_evicted_from_memory_fails_and_is_replaced(
        make_tierfs, s3, bucket):
    data = os.urandom(4 * BLOCK)
    s3.pipe(f"{bucket}/f", data)
    fs = make_tierfs(tiers=[{"medium": "memory", "capacity": f"{2 * BLOCK}B"}])
    with fs.open(f"{bucket}/f") as file:
        for _ in range(3):
            file.seek(5)
            assert file.read(10) == data[5:15]
            fs.cache_stats()
        view = file._resident[0]
        assert fs.cat_file(f"{bucket}/f", BLOCK, 4 * BLOCK) == data[BLOCK:]  # evicts block 0
        fs.cache_stats()
        assert view.read(5, 15, None) is None  # it does not hold the evicted block
        file.seek(5)
        assert file.read(10) == data[5:15]  # fetched again
        fs.cache_stats()
        file.seek(5)
        assert file.read(10) == data[5:15]
        assert file._resident[0] is not view


def test_readers_sharing_views_read_right_bytes_while_blocks_are_evicted_and_moved(
        make_tierfs, s3, bucket, tmp_path):
    """Views are read without locks by many threads while the tiers evict, promote and
    move blocks into huge pages under them: every read must still be exact."""
    data = os.urandom(8 * BLOCK)
    s3.pipe(f"{bucket}/f", data)
    fs = make_tierfs(tiers=[
        {"medium": "memory", "capacity": f"{3 * BLOCK}B"},
        {"medium": "ssd", "path": str(tmp_path / "ssd"), "capacity": "64MiB"},
    ])
    assert fs.cat_file(f"{bucket}/f") == data
    deadline = time.monotonic() + 2
    errors = []

    def random_reader(seed: int) -> None:
        rng = random.Random(seed)
        dest = bytearray(4096)
        while time.monotonic() < deadline:
            with fs.open(f"{bucket}/f") as file:
                for _ in range(50):
                    start = rng.randrange(len(data) - len(dest))
                    file.seek(start)
                    if file.readinto(dest) != len(dest) or dest != data[start:start + len(dest)]:
                        errors.append(start)

    def streamer() -> None:
        while time.monotonic() < deadline:
            if fs.cat_file(f"{bucket}/f") != data:
                errors.append("stream")

    threads = [threading.Thread(target=random_reader, args=(n,)) for n in range(4)]
    threads.append(threading.Thread(target=streamer))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    stats = fs.cache_stats()
    assert stats["evictions"] > 0 and stats["promotions"] > 0 and stats["corrupt_blocks"] == 0


def test_blocks_read_again_later_move_into_huge_pages_and_streamed_ones_do_not(
        make_tierfs, s3, bucket):
    block = 2 * HUGE_PAGE
    data = os.urandom(3 * block)
    s3.pipe(f"{bucket}/f", data)
    fs = make_tierfs(tiers=[{"medium": "memory", "capacity": "64MiB"}], block_size=block)
    assert fs.cat_file(f"{bucket}/f") == data
    assert fs.cat_file(f"{bucket}/f", 0, 100) == data[:100]  # read again at once
    fs.cache_stats()  # every background job is done
    memory = fs.cache.tiers[0]
    keys = list(memory._blocks)
    assert len(keys) == 3 and all(worth_moving(memory.get_block(key)) for key in keys)
    time.sleep(TUNING.reread_seconds + 0.05)
    assert fs.cat_file(f"{bucket}/f", block + 5, block + 105) == data[block + 5:block + 105]
    fs.cache_stats()
    moved = [key for key in keys if not worth_moving(memory.get_block(key))]
    assert len(moved) == 1  # the block read again a while later, alone
    assert fs.cat_file(f"{bucket}/f") == data


def test_ssd_tier_is_warm_after_a_restart(make_tierfs, s3, bucket, tmp_path):
    data = os.urandom(5 * BLOCK)
    s3.pipe(f"{bucket}/f", data)
    tiers = [{"medium": "memory", "capacity": "1MiB"},
             {"medium": "ssd", "path": str(tmp_path / "ssd"), "capacity": "64MiB"}]
    first = make_tierfs(tiers=tiers)
    assert first.cat_file(f"{bucket}/f") == data
    first.cache_stats()  # waits for the background stores, as a process does at exit
    restarted = make_tierfs(tiers=tiers)
    assert restarted.cat_file(f"{bucket}/f") == data
    assert restarted.cache_stats()["under_store_bytes"] == 0


def test_eight_threads_reading_one_cold_file_fetch_each_block_once(make_tierfs, s3, bucket):
    blocks = 16
    data = os.urandom(blocks * BLOCK)
    s3.pipe(f"{bucket}/f", data)
    fs = make_tierfs(tiers=[{"medium": "memory", "capacity": "64MiB"}], prefetch_blocks=0)
    barrier = threading.Barrier(8)
    results, errors = [], []

    def reader(seed: int) -> None:
        try:
            barrier.wait()
            order = list(range(blocks))
            order = order[seed:] + order[:seed]
            with fs.open(f"{bucket}/f") as file:
                for index in order:
                    file.seek(index * BLOCK)
                    results.append(file.read(BLOCK) == data[index * BLOCK:(index + 1) * BLOCK])
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=reader, args=(i % 3,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 8 * blocks and all(results)
    stats = fs.cache_stats()
    assert stats["under_store_requests"] == blocks
    assert stats["under_store_bytes"] == len(data)


def test_sequential_reads_prefetch_ahead(make_tierfs, s3, bucket):
    data = os.urandom(12 * BLOCK)
    s3.pipe(f"{bucket}/f", data)
    fs = make_tierfs(prefetch_blocks=4)
    with fs.open(f"{bucket}/f") as file:
        chunks = [file.read(BLOCK) for _ in range(12)]
    assert b"".join(chunks) == data
    stats = fs.cache_stats()
    assert stats["prefetched"] > 0
    assert stats["under_store_bytes"] == len(data)


def test_clear_cache_empties_every_tier(make_tierfs, s3, bucket):
    s3.pipe(f"{bucket}/f", os.urandom(3 * BLOCK))
    fs = make_tierfs()
    fs.cat_file(f"{bucket}/f")
    fs.clear_cache()
    assert all(t["used"] == 0 and t["blocks"] == 0 for t in fs.cache_stats()["tiers"])
    fs.cat_file(f"{bucket}/f")
    assert fs.cache_stats()["under_store_bytes"] == 6 * BLOCK


def test_metadata_answers_are_shared_and_survive_a_restart_within_their_ttl(
        make_tierfs, s3, bucket, tmp_path):
    import time

    tiers = [{"medium": "ssd", "path": str(tmp_path / "ssd"), "capacity": "64MiB"}]
    s3.pipe({f"{bucket}/kept": b"a" * 10, f"{bucket}/aged": b"a" * 10})
    first = make_tierfs(tiers=tiers, metadata_ttl=300)
    assert first.info(f"{bucket}/kept")["size"] == 10
    assert first.info(f"{bucket}/aged")["size"] == 10
    s3.pipe({f"{bucket}/kept": b"b" * 20, f"{bucket}/aged": b"b" * 20})  # behind its back
    restarted = make_tierfs(tiers=tiers, metadata_ttl=300)
    assert restarted.info(f"{bucket}/kept")["size"] == 10  # no HEAD: the shared answer
    restarted.invalidate_cache(f"{bucket}/kept")
    assert restarted.info(f"{bucket}/kept")["size"] == 20
    time.sleep(1.1)
    short_ttl = make_tierfs(tiers=tiers, metadata_ttl=1)
    assert short_ttl.info(f"{bucket}/aged")["size"] == 20  # the shared answer is too old
