"""Block buffers: reused only once nothing views them, bounded spares, and the memory tier
keeping them (and giving back the malloc'd blocks they push out)."""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import replace

import pytest

from tierfs.cache import TUNING
from tierfs.cache import memory_tier as memory_tier_module
from tierfs.cache.block_buffers import BUFFERS, POOLED_FROM, BlockBuffers, pread_new
from tierfs.cache.block_key import ObjectRef, block_key
from tierfs.cache.config import TierSpec
from tierfs.cache.directory_tier import DirectoryTier
from tierfs.cache.fetch_activity import FetchActivity
from tierfs.cache.memory_tier import MemoryTier
from tierfs.cache.tiered import TieredBlockCache

MIB = 2**20


def _filled(pool: BlockBuffers, size: int, byte: int) -> memoryview:
    view = pool.take(size)
    view[:] = bytes([byte]) * size
    return view.toreadonly()


def test_a_buffer_is_reused_only_once_its_last_view_is_released():
    pool = BlockBuffers(spare_bytes=8 * MIB)
    block = _filled(pool, 3 * MIB, 1)
    piece = block[10:20]
    del block
    fresh = pool.take(3 * MIB)
    assert bytes(fresh[:1]) == b"\x00"  # a new mapping: the viewed buffer is not handed out
    assert piece == b"\x01" * 10
    del piece
    reused = pool.take(3 * MIB)
    assert bytes(reused[:1]) == b"\x01"


def test_spares_beyond_the_bound_are_unmapped():
    pool = BlockBuffers(spare_bytes=1 * MIB)
    first, second = _filled(pool, MIB, 1), _filled(pool, MIB, 2)
    del first, second  # the first is kept; the second would pass the bound
    taken = [pool.take(MIB) for _ in range(2)]
    assert sorted(bytes(view[:1]) for view in taken) == [b"\x00", b"\x01"]


def test_a_tail_block_rounds_up_to_whole_mebibytes_and_reuses_them():
    pool = BlockBuffers(spare_bytes=8 * MIB)
    block = _filled(pool, MIB + 5, 7)
    del block
    tail = pool.take(2 * MIB - 1)
    assert len(tail) == 2 * MIB - 1 and bytes(tail[:1]) == b"\x07"


def test_a_child_forked_while_a_thread_holds_the_pool_takes_buffers():
    pool = BlockBuffers()
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with pool._lock:
            held.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait()
    pid = os.fork()
    if pid == 0:  # the child: killed by the alarm if the pool's lock is still held
        signal.alarm(10)
        view = pool.take(MIB)
        view[:1] = b"x"
        os._exit(0)
    release.set()
    holder.join()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_large_reads_land_in_pooled_read_only_buffers_small_ones_in_bytes(tmp_path):
    data = os.urandom(POOLED_FROM + 4096)
    path = tmp_path / "f"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        large = pread_new(fd, POOLED_FROM, 4096)
        small = pread_new(fd, 100, 7)
        past_the_end = pread_new(fd, POOLED_FROM, 8192)
    finally:
        os.close(fd)
    assert BUFFERS.pooled(large) and large.readonly and large == data[4096:]
    assert isinstance(small.obj, bytes) and small == data[7:107]
    assert BUFFERS.pooled(past_the_end) and past_the_end == data[8192:]


def test_the_memory_tier_keeps_pooled_blocks_as_they_are_and_copies_part_of_bytes():
    tier = MemoryTier(TierSpec("memory", 8 * MIB, None, "lru"), FetchActivity())
    pooled = _filled(BUFFERS, 2 * MIB, 3)
    tier.put("a", pooled)
    assert tier.get_block("a").obj is pooled.obj
    whole = os.urandom(1000)
    tier.put("b", memoryview(whole))
    assert tier.get_block("b").obj is whole
    larger = os.urandom(1000)
    tier.put("c", memoryview(larger)[:10])
    held = tier.get_block("c")
    assert held.obj is not larger and held == larger[:10]  # the rest is not kept alive


@pytest.fixture
def trims(monkeypatch) -> list[int]:
    calls = []
    monkeypatch.setattr(memory_tier_module, "release_free_memory", lambda: calls.append(1))
    return calls


def test_free_memory_is_released_when_blocks_read_from_disk_push_out_fetched_ones(trims):
    tuning = replace(TUNING, malloc_trim_bytes=2 * MIB)
    tier = MemoryTier(TierSpec("memory", 2 * MIB, None, "lru"), FetchActivity(), tuning)
    for name in "abcd":  # fetched blocks pushing out fetched ones: their memory is reused
        tier.put(name, os.urandom(MIB))
    assert trims == []
    tier.put("e", _filled(BUFFERS, MIB, 1))
    assert trims == []  # one mebibyte displaced so far
    tier.put("f", _filled(BUFFERS, MIB, 2))
    assert trims == [1]
    tier.put("g", _filled(BUFFERS, MIB, 3))  # a pooled block pushed out: nothing to trim
    tier.put("h", _filled(BUFFERS, MIB, 4))
    assert trims == [1]


def test_a_block_promoted_from_disk_is_kept_in_memory_without_a_copy(tmp_path):
    activity = FetchActivity()
    memory = MemoryTier(TierSpec("memory", 8 * MIB, None, "lru"), activity)
    ssd = DirectoryTier(TierSpec("ssd", 64 * MIB, str(tmp_path), "lru"), activity)
    cache = TieredBlockCache([memory, ssd])
    obj = ObjectRef("test", "bucket/key", 2 * MIB, "v1")
    key = block_key(obj, 2 * MIB, 0)
    data = os.urandom(2 * MIB)
    cache.persist(key, data)
    assert cache.read_block(key, 5, 15) == data[5:15]
    kept = memory.get_block(key)
    assert BUFFERS.pooled(kept) and kept == data
