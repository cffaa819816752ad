"""Reads through ``tierfs`` return exactly the under store's bytes, whatever the range."""

from __future__ import annotations

import os
import random

import pytest

from tests.fs.conftest import BLOCK


@pytest.mark.parametrize("size", [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 17])
def test_whole_file_reads_are_byte_exact_for_edge_sizes(make_tierfs, s3, bucket, size):
    data = os.urandom(size)
    s3.pipe(f"{bucket}/f", data)
    fs = make_tierfs()
    assert fs.cat_file(f"{bucket}/f") == data
    with fs.open(f"{bucket}/f", "rb") as file:
        assert file.read() == data
    assert fs.cat_file(f"{bucket}/f") == data  # warm


def test_random_ranges_across_block_boundaries_are_byte_exact(make_tierfs, s3, bucket):
    data = os.urandom(5 * BLOCK + 123)
    s3.pipe(f"{bucket}/f", data)
    fs = make_tierfs()
    rng = random.Random(7)
    with fs.open(f"{bucket}/f", "rb") as file:
        for _ in range(200):
            start = rng.randrange(len(data))
            length = rng.choice([1, 7, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK + 5])
            file.seek(start)
            assert file.read(length) == data[start:start + length]
            buffer = bytearray(length)
            file.seek(start)
            count = file.readinto(buffer)
            assert buffer[:count] == data[start:start + length]
    for _ in range(50):
        start, end = sorted(rng.randrange(len(data) + 1) for _ in range(2))
        assert fs.cat_file(f"{bucket}/f", start, end) == data[start:end]


def test_negative_and_open_ended_ranges_follow_fsspec(make_tierfs, s3, bucket):
    data = os.urandom(2 * BLOCK)
    s3.pipe(f"{bucket}/f", data)
    fs = make_tierfs()
    assert fs.cat_file(f"{bucket}/f", -100) == data[-100:]
    assert fs.cat_file(f"{bucket}/f", 10, -10) == data[10:-10]
    assert fs.cat_file(f"{bucket}/f", BLOCK, None) == data[BLOCK:]
    assert fs.cat_file(f"{bucket}/f", len(data) + 5, None) == b""


def test_seek_tell_and_read_past_end(make_tierfs, s3, bucket):
    data = os.urandom(BLOCK + 10)
    s3.pipe(f"{bucket}/f", data)
    with make_tierfs().open(f"{bucket}/f", "rb") as file:
        assert file.seek(-5, os.SEEK_END) == len(data) - 5
        assert file.read(100) == data[-5:]
        assert file.read(1) == b""
        file.seek(3)
        file.seek(4, os.SEEK_CUR)
        assert file.tell() == 7
        assert file.size == len(data)


def test_cat_ranges_and_cat_of_many_paths(make_tierfs, s3, bucket):
    files = {f"{bucket}/d/{i}": os.urandom(i * 1000 + 1) for i in range(20)}
    s3.pipe(files)
    fs = make_tierfs()
    assert fs.cat(f"{bucket}/d/*") == files
    assert fs.cat(list(files)) == files
    paths = list(files)[:5]
    got = fs.cat_ranges(paths, [0, 1, 2, 3, 4], [1, 3, 5, 7, 9])
    assert got == [files[p][s:e] for p, s, e in zip(paths, [0, 1, 2, 3, 4], [1, 3, 5, 7, 9],
                                                   strict=True)]


def test_listing_operations_match_the_under_store(make_tierfs, s3, bucket):
    files = {f"{bucket}/a/x.bin": b"1" * 10, f"{bucket}/a/b/y.bin": b"2" * 20,
             f"{bucket}/z.txt": b"3"}
    s3.pipe(files)
    fs = make_tierfs()
    assert sorted(fs.ls(bucket, detail=False)) == sorted(s3.ls(bucket, detail=False))
    assert fs.find(bucket) == sorted(files)
    assert fs.glob(f"{bucket}/**/*.bin") == sorted(p for p in files if p.endswith(".bin"))
    assert fs.exists(f"{bucket}/a/x.bin") and not fs.exists(f"{bucket}/nope")
    assert fs.du(bucket) == 31
    assert fs.info(f"{bucket}/a/b/y.bin")["size"] == 20
    assert fs.isdir(f"{bucket}/a")


def test_missing_paths_raise_file_not_found(make_tierfs, bucket):
    fs = make_tierfs()
    with pytest.raises(FileNotFoundError):
        fs.open(f"{bucket}/missing", "rb")
    with pytest.raises(FileNotFoundError):
        fs.cat_file(f"{bucket}/missing")
    with pytest.raises(FileNotFoundError):
        fs.info(f"{bucket}/missing")


def test_reading_a_directory_raises_is_a_directory(make_tierfs, s3, bucket):
    s3.pipe(f"{bucket}/dir/file", b"x")
    with pytest.raises(IsADirectoryError):
        make_tierfs().cat_file(f"{bucket}/dir")


def test_reads_across_blocks_from_a_directory_tier_alone_are_byte_exact(make_tierfs, s3, bucket,
                                                                        tmp_path):
    """A new instance over a warm ssd tier (no memory tier), as a new worker process reads:
    whole files and ranges across blocks, cold-verified on their first read."""
    data = os.urandom(4 * BLOCK + 99)
    s3.pipe(f"{bucket}/f", data)
    tiers = [{"medium": "ssd", "path": str(tmp_path / "only-ssd"), "capacity": "8MiB"}]
    first = make_tierfs(tiers=tiers)
    assert first.cat_file(f"{bucket}/f") == data
    first.cache_stats()  # blocks written to the tier
    fs = make_tierfs(tiers=tiers)
    with fs.open(f"{bucket}/f", "rb") as file:
        assert file.read() == data
        file.seek(BLOCK - 3)
        assert file.read(2 * BLOCK) == data[BLOCK - 3:3 * BLOCK - 3]
    assert fs.cache_stats()["under_store_bytes"] == 0
