"""One fetch activity per cache: busy while any of its block sources fetches."""

from __future__ import annotations

import os
import threading
import time

from tierfs.cache import BlockSource, CacheCounters, ObjectRef, TieredBlockCache, build_tiers
from tierfs.cache.config import TierSpec
from tierfs.cache.fetch_activity import FetchActivity
from tierfs.cache.fetcher import BlockRequest


def test_busy_while_fetching_and_for_a_reader_s_gap_after():
    activity = FetchActivity()
    assert not activity.busy()
    with activity.fetching():
        assert activity.busy()
    assert activity.busy()  # a reader's next fetch usually follows at once
    time.sleep(activity.quiet_seconds * 2)
    assert not activity.busy()


def test_new_files_skip_the_page_cache_while_fetching_or_while_someone_waits():
    activity = FetchActivity()
    assert not activity.writes_skip_page_cache()
    with activity.fetching():
        assert activity.writes_skip_page_cache()
    time.sleep(activity.quiet_seconds * 2)
    with activity.awaited():
        assert activity.writes_skip_page_cache() and not activity.busy()
    assert not activity.writes_skip_page_cache()


def test_quiet_work_waits_for_fetching_to_end():
    activity = FetchActivity()
    done = threading.Event()
    with activity.fetching():
        activity.when_quiet(done.set)
        assert not done.wait(0.2)
    assert done.wait(5)


def test_a_drain_runs_quiet_work_at_once():
    activity = FetchActivity()
    done = threading.Event()
    with activity.fetching():
        activity.when_quiet(done.set)
        assert activity.drain(0.5) and done.is_set()


class _LocalFetcher:
    """Blocks of a local file, noting whether the cache looked busy during each fetch."""

    def __init__(self, path: str, activity: FetchActivity):
        self.path, self.activity, self.seen_busy = path, activity, []

    def fetch(self, requests: list[BlockRequest]) -> list[bytes]:
        self.seen_busy.append(self.activity.busy())
        with open(self.path, "rb") as file:
            return [os.pread(file.fileno(), r.end - r.start, r.start) for r in requests]


def test_every_block_source_of_one_cache_shares_its_tiers_activity(tmp_path):
    """A daemon has one source per mount over one cache: fetching by any of them is what
    the tiers' background work must wait for."""
    data = os.urandom(3000)
    (tmp_path / "f").write_bytes(data)
    specs = [TierSpec("memory", 2**20), TierSpec("ssd", 2**20, str(tmp_path / "ssd"))]
    cache = TieredBlockCache(build_tiers(specs), CacheCounters())
    assert all(tier.activity is cache.activity for tier in cache.tiers)
    sources = [BlockSource(cache, _LocalFetcher(str(tmp_path / "f"), cache.activity), 1024)
               for _ in range(2)]
    for n, source in enumerate(sources):
        obj = ObjectRef("file://", f"mount{n}/f", len(data), "v1")
        assert b"".join(source.read_many([(obj, 0, len(data))])[0]) == data
        assert source.fetcher.seen_busy == [True]
        assert source.settle(5)


def test_settling_a_source_waits_as_someone_waiting_for_the_stores(tmp_path):
    data = os.urandom(3000)
    (tmp_path / "f").write_bytes(data)
    specs = [TierSpec("memory", 2**20), TierSpec("ssd", 2**20, str(tmp_path / "ssd"))]
    cache = TieredBlockCache(build_tiers(specs), CacheCounters())
    source = BlockSource(cache, _LocalFetcher(str(tmp_path / "f"), cache.activity), 1024)
    obj = ObjectRef("file://", "f", len(data), "v1")
    assert b"".join(source.read_many([(obj, 0, len(data))])[0]) == data
    seen = []
    drain = source._write_behind.drain

    def recording_drain(timeout=None):
        seen.append(cache.activity.writes_skip_page_cache())
        return drain(timeout)

    source._write_behind.drain = recording_drain
    time.sleep(cache.activity.quiet_seconds * 2)
    assert source.settle(5) and seen == [True]
    assert not cache.activity.writes_skip_page_cache()
