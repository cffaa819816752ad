"""A tier directory's shard directories: made when it is opened, not during its first reads."""

from __future__ import annotations

import os
import shutil

from tierfs.cache.block_files import SHARDS
from tierfs.cache.config import TierSpec
from tierfs.cache.directory_tier import DirectoryTier
from tierfs.cache.fetch_activity import FetchActivity

KEYS = [f"{index:032x}"[::-1] for index in range(1, 33)]  # 32 keys over 32 shards


def _tier(tmp_path) -> DirectoryTier:
    return DirectoryTier(TierSpec("ssd", 2**30, str(tmp_path / "ssd"), "lru"), FetchActivity())


def test_a_new_directory_has_every_shard_and_writes_make_none(tmp_path, monkeypatch):
    tier = _tier(tmp_path)
    made = []
    real_mkdir = os.mkdir

    def recording_mkdir(path, *args, **kwargs):
        made.append(path)
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", recording_mkdir)

    for key in KEYS:
        tier.put(key, os.urandom(4096))

    blocks = tmp_path / "ssd" / "blocks"
    assert sorted(p.name for p in blocks.iterdir()) == list(SHARDS)
    assert all(p.stat().st_mode & 0o777 == 0o700 for p in blocks.iterdir())
    assert made == []
    assert len({key[:2] for key in KEYS}) == 32


def test_a_removed_shard_is_made_again_by_the_next_write_or_open(tmp_path):
    tier = _tier(tmp_path)
    shard = tmp_path / "ssd" / "blocks" / KEYS[0][:2]
    shutil.rmtree(shard)
    data = os.urandom(8192)

    tier.put(KEYS[0], data)

    assert bytes(tier.get(KEYS[0], 0, None)) == data
    shutil.rmtree(tmp_path / "ssd" / "blocks" / KEYS[1][:2])
    _tier(tmp_path)
    assert sorted(p.name for p in (tmp_path / "ssd" / "blocks").iterdir()) == list(SHARDS)
