"""Eviction policies chosen by name pick the victims their names promise, in every tier kind."""

from __future__ import annotations

import pytest

from tierfs.cache.block_key import ObjectRef, block_key
from tierfs.cache.config import TierSpec
from tierfs.cache.directory_tier import DirectoryTier
from tierfs.cache.fetch_activity import FetchActivity
from tierfs.cache.memory_tier import MemoryTier
from tierfs.cache.tier import PutResult
from tierfs.cache.tiered import TieredBlockCache

SIZE = 1000
OBJ = ObjectRef("test", "bucket/key", 10 * SIZE, "v1")
KEYS = [block_key(OBJ, SIZE, i) for i in range(4)]


def make_tier(kind: str, policy: str, tmp_path, slots: int = 3):
    if kind == "memory":
        return MemoryTier(TierSpec("memory", slots * SIZE, None, policy), FetchActivity())
    slot = SIZE + 4096  # header page plus data
    return DirectoryTier(TierSpec("ssd", slots * slot, str(tmp_path), policy), FetchActivity())


def fill_and_touch(tier) -> list[str]:
    """Insert A, B, C; read A twice and C once; then insert D and return the victims."""
    a, b, c, d = KEYS
    for key in (a, b, c):
        assert tier.put(key, bytes([1]) * SIZE).result is PutResult.STORED
    for key in (a, a, c):
        assert tier.get(key, 0, 10) is not None
    outcome = tier.put(d, bytes([2]) * SIZE)
    try:
        return [victim.key for victim in outcome.victims]
    finally:
        for victim in outcome.victims:
            victim.release()


@pytest.mark.parametrize("kind", ["memory", "directory"])
@pytest.mark.parametrize(
    ("policy", "expected_victim"),
    [("lru", 1), ("lfu", 1), ("fifo", 0)],
)
def test_policy_chooses_its_victim(kind, policy, expected_victim, tmp_path):
    tier = make_tier(kind, policy, tmp_path)
    assert fill_and_touch(tier) == [KEYS[expected_victim]]
    used, blocks = tier.usage()
    assert blocks == 3 and used <= tier.spec.capacity


@pytest.mark.parametrize("kind", ["memory", "directory"])
def test_lfu_keeps_a_frequently_read_block_that_lru_would_drop(kind, tmp_path):
    a, b, c, d = KEYS
    tier = make_tier(kind, "lfu", tmp_path)
    for key in (a, b, c):
        tier.put(key, bytes(SIZE))
    for _ in range(5):
        tier.get(a, 0, 1)
    tier.get(b, 0, 1)
    tier.get(c, 0, 1)  # a is now the least *recently* used, but the most frequently
    outcome = tier.put(d, bytes(SIZE))
    assert [v.key for v in outcome.victims] != [a]


@pytest.mark.parametrize("kind", ["memory", "directory"])
def test_a_block_larger_than_the_tier_is_refused(kind, tmp_path):
    tier = make_tier(kind, "lru", tmp_path, slots=1)
    assert tier.put(KEYS[0], bytes(10 * SIZE)).result is PutResult.TOO_LARGE
    assert tier.usage() == (0, 0)


@pytest.mark.parametrize("kind", ["memory", "directory"])
def test_storing_a_present_block_again_is_a_benign_race(kind, tmp_path):
    tier = make_tier(kind, "lru", tmp_path)
    assert tier.put(KEYS[0], bytes(SIZE)).result is PutResult.STORED
    assert tier.put(KEYS[0], bytes(SIZE)).result is PutResult.ALREADY_PRESENT
    assert tier.usage()[1] == 1


@pytest.mark.parametrize(("policy", "room"), [("lru", 10 * SIZE), ("fifo", 10 * SIZE), ("lfu", 0)])
def test_new_blocks_wait_to_be_persisted_only_where_memory_evicts_them_last(policy, room):
    spec = TierSpec("memory", 10 * SIZE, None, policy)
    cache = TieredBlockCache([MemoryTier(spec, FetchActivity())])
    assert cache.room_for_unpersisted() == room
