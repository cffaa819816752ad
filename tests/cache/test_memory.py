"""Process-memory pieces of the cache: huge-page block copies and lock-free counters."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import replace

import obstore
import pytest

from tierfs.cache import TUNING
from tierfs.cache.config import TierSpec
from tierfs.cache.fetch_activity import FetchActivity
from tierfs.cache.huge_pages import HUGE_PAGE, huge_page_copy, worth_moving
from tierfs.cache.memory_tier import MemoryTier
from tierfs.cache.stats import CacheCounters


@pytest.mark.parametrize("size", [0, 1, HUGE_PAGE - 1, HUGE_PAGE, 2 * HUGE_PAGE + 4097])
def test_huge_page_copies_hold_the_same_bytes_read_only(size):
    data = os.urandom(size)
    copy = huge_page_copy(data)
    assert copy.readonly and len(copy) == size and copy == data
    with pytest.raises(TypeError):
        copy[:1] = b"x"


def test_a_huge_page_copy_survives_its_source_and_slices():
    data = bytearray(os.urandom(HUGE_PAGE + 10))
    copy = huge_page_copy(data)
    expected = bytes(data)
    data[:] = bytes(len(data))  # the copy is independent of its source
    tail = copy[HUGE_PAGE:]
    del copy
    assert tail == expected[HUGE_PAGE:]  # a slice keeps the mapping alive


def test_the_memory_tier_keeps_fetched_bytes_then_moves_them_to_huge_pages():
    tier = MemoryTier(TierSpec("memory", 8 * HUGE_PAGE), FetchActivity())
    data = os.urandom(2 * HUGE_PAGE)
    tier.put("k", data)
    assert tier.get_block("k").obj is data  # no copy on the cold reader's path
    moved = tier.move_to_huge_pages("k")
    assert not worth_moving(moved) and moved == data and tier.get_block("k") is moved
    assert tier.move_to_huge_pages("k") is moved  # once
    assert tier.usage() == (len(data), 1)
    assert tier.move_to_huge_pages("absent") is None


def test_only_blocks_read_again_a_while_after_they_arrived_move_to_huge_pages():
    activity = FetchActivity()
    tier = MemoryTier(TierSpec("memory", 8 * HUGE_PAGE), activity,
                      replace(TUNING, reread_seconds=0.2))
    dest = memoryview(bytearray(10))
    tier.put("k", os.urandom(HUGE_PAGE))
    assert tier.read_into("k", 0, 10, dest) and tier.get("k", 0, 10) is not None
    assert activity.drain(5) and worth_moving(tier.get_block("k"))  # a streaming reader's
    time.sleep(0.25)
    for _ in range(3):
        assert tier.read_into("k", 0, 10, dest)
    assert activity.drain(5) and not worth_moving(tier.get_block("k"))
    tier.remove("k")
    tier.put("k", os.urandom(HUGE_PAGE))
    time.sleep(0.25)
    assert tier.get("k", 0, 10) is not None  # a new arrival moves too
    assert activity.drain(5) and not worth_moving(tier.get_block("k"))


def test_blocks_read_again_whole_stay_where_they_arrived():
    activity = FetchActivity()
    tier = MemoryTier(TierSpec("memory", 8 * HUGE_PAGE), activity,
                      replace(TUNING, reread_seconds=0.2))
    whole = memoryview(bytearray(HUGE_PAGE))
    tier.put("k", os.urandom(HUGE_PAGE))
    time.sleep(0.25)
    for _ in range(3):  # an epoch over the same files: every block read again whole
        assert tier.read_into("k", 0, HUGE_PAGE, whole) and tier.get("k", 0, None) is not None
        assert tier.view("k").read(0, HUGE_PAGE, None) is not None
    assert activity.drain(5) and worth_moving(tier.get_block("k"))  # not moved
    assert tier.view("k").read(0, TUNING.huge_page_reads, None) is not None  # a small read
    assert activity.drain(5) and not worth_moving(tier.get_block("k"))


def test_the_memory_tier_keeps_immutable_fetched_buffers_and_copies_mutable_ones():
    tier = MemoryTier(TierSpec("memory", 2**20), FetchActivity())
    fetched = obstore.Bytes(os.urandom(1000))  # what the obstore cold fetcher hands over
    mutable = bytearray(os.urandom(1000))
    tier.put("a", fetched)
    tier.put("b", mutable)
    assert tier.get_block("a").obj is fetched  # no copy of the fetched block
    held = tier.get_block("b")
    assert held.obj is not mutable and held == mutable
    mutable[:4] = b"XXXX"
    assert held != mutable  # a later change of the caller's buffer never reaches the tier


def test_counters_from_many_threads_add_up_exactly():
    counters = CacheCounters()

    def bump() -> None:
        for _ in range(10_000):
            counters.add("hits")
            counters.add("under_store_bytes", 3)

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    snapshot = counters.snapshot()
    assert snapshot["hits"] == 80_000 and snapshot["under_store_bytes"] == 240_000
    counters.reset()
    counters.add("hits")
    assert counters.snapshot()["hits"] == 1


def test_hit_tallies_of_file_objects_count_while_open_and_after_closing():
    counters = CacheCounters()
    counters.add("hits")
    first, second = counters.tally(), counters.tally()
    first.hits += 3
    second.hits += 4
    assert counters.snapshot()["hits"] == 8  # open tallies are summed
    counters.reset()
    first.hits += 1
    counters.retire(first)
    counters.retire(first)  # a second close changes nothing
    assert counters.snapshot()["hits"] == 1
    second.hits += 2
    counters.retire(second)
    assert counters.snapshot()["hits"] == 3


def test_an_unknown_counter_is_refused():
    with pytest.raises(KeyError, match="hitz"):
        CacheCounters().add("hitz")
