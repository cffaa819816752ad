"""Resident views: shared per object, holding nothing a tier let go of."""

from __future__ import annotations

import gc
import os

from tierfs.cache import TUNING, resident
from tierfs.cache.block_files import BlockFiles
from tierfs.cache.block_format import chunk_size_for, encode_header
from tierfs.cache.block_key import ObjectRef, block_key
from tierfs.cache.config import TierSpec
from tierfs.cache.fetch_activity import FetchActivity
from tierfs.cache.memory_tier import MemoryTier
from tierfs.cache.resident import ResidentBlocks
from tierfs.cache.stats import HitTally

KEY = "cd" * 16
OBJ = ObjectRef("mem://", "f", 300, "v1")


class _View:
    def read(self, lo: int, hi: int, dest: memoryview | None) -> memoryview:
        return memoryview(b"x" * hi)[lo:hi]


def _blocks(views: dict[str, object] | None = None, kept: int = 8) -> ResidentBlocks:
    """Tables over a fake fastest tier whose views are ``views`` by block key."""
    views = {} if views is None else views
    return ResidentBlocks(views.get, 100, kept)


def test_readers_of_one_object_share_its_table_even_after_a_reopen():
    blocks = _blocks({block_key(OBJ, 100, 2): _View()})
    table = blocks.table(OBJ)
    table.refresh(250, 260)
    del table
    gc.collect()
    assert 2 in blocks.table(OBJ)  # kept for the next reader
    assert blocks.table(ObjectRef("mem://", "g", 300, "v1")) == {}


def test_reads_within_and_across_blocks_go_through_the_views_and_count_hits():
    blocks = _blocks({block_key(OBJ, 100, index): _View() for index in range(3)})
    table = blocks.table(OBJ)
    tally = HitTally()
    assert table.read(5, 10, None, tally) is None  # no view yet: the long way
    table.refresh(0, 300)
    assert bytes(table.read(5, 10, None, tally)) == b"x" * 5 and tally.hits == 1
    dest = memoryview(bytearray(150))
    assert table.read(90, 240, dest, tally) is dest and tally.hits == 4  # three blocks


def test_a_failed_view_is_forgotten_when_the_tier_has_no_new_one():
    views = {block_key(OBJ, 100, 0): _View()}
    blocks = _blocks(views)
    table = blocks.table(OBJ)
    table.refresh(0, 10)
    views.clear()
    table.refresh(0, 10)
    assert table == {}


def test_tables_of_objects_nobody_reads_are_bounded():
    blocks = _blocks({block_key(ObjectRef("mem://", name, 300, "v1"), 100, 0): _View()
                      for name in "abc"}, kept=2)
    for name in "abc":
        blocks.table(ObjectRef("mem://", name, 300, "v1")).refresh(0, 10)
    gc.collect()
    assert blocks.table(ObjectRef("mem://", "a", 300, "v1")) == {}  # dropped: the oldest
    assert 0 in blocks.table(ObjectRef("mem://", "c", 300, "v1"))


def test_a_forked_child_starts_without_the_views_of_its_parent():
    blocks = _blocks({block_key(OBJ, 100, 0): _View()})
    table = blocks.table(OBJ)
    table.refresh(0, 10)
    pid = os.fork()
    if pid == 0:  # the child: its tiers rebuild their handles and watches
        os._exit(0 if table == {} else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert 0 in table  # the parent keeps its own


def test_a_memory_view_reads_its_block_until_the_block_is_evicted():
    tier = MemoryTier(TierSpec("memory", 2 * 100), FetchActivity())
    tier.put("a", b"a" * 100)
    view = tier.view("a")
    assert tier.view("missing") is None
    assert bytes(view.read(10, 20, None)) == b"a" * 10
    dest = memoryview(bytearray(5))
    assert view.read(0, 5, dest) is dest and dest == b"a" * 5
    tier.put("b", b"b" * 100)
    tier.put("c", b"c" * 100)  # evicts "a", the coldest
    assert "a" not in tier._blocks
    assert view.read(10, 20, None) is None  # and the view did not keep it


def _block_files(tmp_path, data: bytes):
    path = tmp_path / KEY[:2] / KEY
    path.parent.mkdir()
    path.write_bytes(encode_header(data, chunk_size_for(len(data))) + data)
    return BlockFiles(tmp_path, lambda key, error: None), path


def _read(view, lo: int, hi: int) -> bytes | None:
    dest = memoryview(bytearray(hi - lo))
    return None if view.read(lo, hi, dest) is None else bytes(dest)


def test_a_block_file_view_serves_only_checked_chunks_of_an_unchanged_file(tmp_path):
    data = os.urandom(4 * TUNING.mapped_read_limit)
    files, path = _block_files(tmp_path, data)
    touched = []
    assert files.view("ef" * 16, touched.append) is None  # no such file
    assert files.read_into(KEY, 0, 100, memoryview(bytearray(100)))  # checks chunk 0, maps
    view = files.view(KEY, touched.append)
    assert _read(view, 5, 105) == data[5:105] and touched == [1]
    assert _read(view, len(data) - 100, len(data)) is None  # its chunk was never checked
    with open(path, "r+b") as file:
        file.seek(-len(data) + 50, os.SEEK_END)
        file.write(b"\xff")
    assert _read(view, 5, 105) is None  # the change watch saw the write
    assert touched == [1]


def test_a_block_file_view_reports_its_first_hit_at_once_and_later_ones_in_batches(
        tmp_path, monkeypatch):
    data = os.urandom(4 * TUNING.mapped_read_limit)
    files, _path = _block_files(tmp_path, data)
    assert files.read_into(KEY, 0, 100, memoryview(bytearray(100)))
    reported = []
    view = files.view(KEY, reported.append)
    clock = [1000.0]
    monkeypatch.setattr(resident, "monotonic", lambda: clock[0])
    for _ in range(5):
        assert _read(view, 5, 105) == data[5:105]
    assert reported == [1]  # the first hit at once; the next four wait
    clock[0] += TUNING.view_report_seconds
    assert _read(view, 5, 105) == data[5:105]
    assert reported == [1, 5]


def test_a_block_file_view_reads_large_ranges_and_outlives_unmapping_safely(tmp_path):
    data = os.urandom(4 * TUNING.mapped_read_limit)
    files, _path = _block_files(tmp_path, data)
    assert bytes(files.read(KEY, 0, None)) == data  # every chunk checked
    assert files.read_into(KEY, 0, 100, memoryview(bytearray(100)))  # mapped
    view = files.view(KEY, lambda hits: None)
    assert _read(view, 0, len(data)) == data  # a large read, copied from the mapping
    assert bytes(view.read(7, 70, None)) == data[7:70]
    files.forget(KEY)  # unmapped and closed: the view holds neither
    assert view.handle.mapped is not None and len(view.handle.mapped) == 0
    assert _read(view, 5, 105) is None
