"""Opening an S3 object learns its version and its first block in one request (``tierfs.probe``)."""

from __future__ import annotations

import os
import threading
import time

import pytest

from tests.fs.conftest import BLOCK


def _requests_and_bytes(fs) -> tuple[int, int]:
    stats = fs.cache_stats()
    return stats["under_store_requests"], stats["under_store_bytes"]


def test_opening_and_reading_a_small_cold_file_is_one_request(make_tierfs, s3, bucket):
    data = os.urandom(70_000)
    s3.pipe(f"{bucket}/small", data)
    fs = make_tierfs()
    with fs.open(f"{bucket}/small", "rb") as file:
        assert file.read() == data
    assert _requests_and_bytes(fs) == (1, len(data))
    assert fs.info(f"{bucket}/small") == s3.info(f"{bucket}/small")  # same ETag: same keys


def test_a_large_file_still_fetches_each_byte_once(make_tierfs, s3, bucket):
    data = os.urandom(3 * BLOCK + 5)
    s3.pipe(f"{bucket}/large", data)
    fs = make_tierfs(prefetch_blocks=0)
    with fs.open(f"{bucket}/large", "rb") as file:
        assert file.read() == data
    assert _requests_and_bytes(fs) == (4, len(data))


def test_eight_threads_opening_one_cold_file_share_one_probe(make_tierfs, s3, bucket):
    data = os.urandom(10_000)
    s3.pipe(f"{bucket}/shared", data)
    fs = make_tierfs()
    barrier = threading.Barrier(8)
    results = []

    def reader() -> None:
        barrier.wait()
        with fs.open(f"{bucket}/shared", "rb") as file:
            results.append(file.read())

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [data] * 8
    assert _requests_and_bytes(fs) == (1, len(data))


def test_empty_missing_and_directory_paths_answer_as_without_a_probe(make_tierfs, s3, bucket):
    s3.pipe(f"{bucket}/empty", b"")
    s3.pipe(f"{bucket}/dir/child", b"x")
    fs = make_tierfs()
    with fs.open(f"{bucket}/empty", "rb") as file:
        assert file.read() == b""
    with pytest.raises(FileNotFoundError):
        fs.open(f"{bucket}/missing", "rb")
    with pytest.raises(IsADirectoryError):
        fs.open(f"{bucket}/dir", "rb")
    assert fs.cat([f"{bucket}/empty", f"{bucket}/dir/child"]) == {
        f"{bucket}/empty": b"", f"{bucket}/dir/child": b"x"}


def test_with_metadata_ttl_zero_opens_do_not_refetch_small_files(make_tierfs, s3, bucket):
    data = os.urandom(1000)
    s3.pipe(f"{bucket}/f", data)
    fs = make_tierfs(metadata_ttl=0)
    for _ in range(3):
        with fs.open(f"{bucket}/f", "rb") as file:
            assert file.read() == data
    assert _requests_and_bytes(fs) == (1, len(data))


def test_expired_metadata_over_a_warm_tier_is_revalidated_without_bytes(make_tierfs, s3,
                                                                         bucket, tmp_path):
    data = os.urandom(1000)
    s3.pipe(f"{bucket}/f", data)
    tiers = [{"medium": "ssd", "path": str(tmp_path / "ssd"), "capacity": "8MiB"}]
    first = make_tierfs(tiers=tiers, metadata_ttl=0.2)
    with first.open(f"{bucket}/f", "rb") as file:
        assert file.read() == data
    first.cache_stats()  # waits for the background stores, as a process does at exit
    time.sleep(0.3)
    restarted = make_tierfs(tiers=tiers, metadata_ttl=0.2)
    with restarted.open(f"{bucket}/f", "rb") as file:
        assert file.read() == data
    assert _requests_and_bytes(restarted) == (0, 0)
