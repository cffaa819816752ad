"""Tiers declare what they can do; the cache asks the declarations, never probes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tierfs.cache import BlockFileTier, CacheCounters, PutResult, TieredBlockCache, build_tiers
from tierfs.cache.config import TierSpec

KEY = "ab" * 16


def _cache(tmp_path) -> TieredBlockCache:
    specs = [TierSpec("memory", 2**20), TierSpec("ssd", 2**20, str(tmp_path / "ssd"))]
    return TieredBlockCache(build_tiers(specs), CacheCounters())


@pytest.mark.parametrize("level", [0, 1], ids=["memory", "ssd"])
def test_every_tier_declares_its_capabilities(tmp_path, level):
    tier = _cache(tmp_path).tiers[level]
    assert tier.accepts_blocks and tier.offers_views and tier.activity is not None
    assert tier.corrupt_blocks == 0
    tier.touch(KEY)  # a no-op where the tier keeps no access statistics of its own
    tier.flush()


def test_a_read_only_block_file_tier_reads_a_directory_tier_s_blocks_and_reports_hits(
        tmp_path):
    cache = _cache(tmp_path)
    data = os.urandom(5000)
    cache.store(KEY, data)
    owner = cache.tiers[1]
    hits = []
    reader = BlockFileTier(owner.spec, Path(owner.spec.path) / "blocks",
                           lambda key, count: hits.append((key, count)))
    assert not reader.accepts_blocks and reader.offers_views and reader.activity is None
    assert bytes(reader.get(KEY, 10, 20)) == data[10:20] and hits == [(KEY, 1)]
    assert reader.put(KEY, data).result is PutResult.ALREADY_PRESENT
    assert not reader.remove(KEY) and reader.contains(KEY)
    cache.touch(KEY)  # the owner counts the reported hit for its eviction order
    cache.flush()


def test_a_corrupt_block_is_skipped_by_a_reader_and_dropped_by_its_owner(tmp_path):
    cache = _cache(tmp_path)
    data = os.urandom(5000)
    cache.tiers[1].put(KEY, data)
    owner = cache.tiers[1]
    reader = BlockFileTier(owner.spec, Path(owner.spec.path) / "blocks", lambda *hit: None)
    path = owner.files.path(KEY)
    with open(path, "r+b") as file:
        file.seek(-10, os.SEEK_END)
        file.write(b"\x00" * 10)
    assert reader.get(KEY, 0, None) is None and reader.corrupt_blocks == 1
    assert path.exists()  # not the reader's to delete
    assert owner.get(KEY, 0, None) is None and not path.exists()
    assert cache.corrupt_blocks() == 1
