"""Resident views: shared per object, revoked whenever a tier lets go of a block."""

from __future__ import annotations

import gc
import os

from tierfs.cache import resident
from tierfs.cache.block_files import MAPPED_READ_LIMIT, BlockFiles
from tierfs.cache.block_format import chunk_size_for, encode_header
from tierfs.cache.config import TierSpec
from tierfs.cache.memory_tier import MemoryTier
from tierfs.cache.resident import ResidentBlocks

KEY = "cd" * 16


class _View:
    def view(self, lo: int, hi: int) -> memoryview:
        return memoryview(b"x" * hi)[lo:hi]


def test_readers_of_one_object_share_its_table_even_after_a_reopen():
    blocks = ResidentBlocks()
    table = blocks.table("obj")
    blocks.remember(table, 3, _View)
    del table
    gc.collect()
    assert 3 in blocks.table("obj")  # kept for the next reader
    assert blocks.table("other") == {}


def test_a_revocation_empties_the_tables_of_open_files_and_kept_ones():
    blocks = ResidentBlocks()
    held = blocks.table("held")
    blocks.remember(held, 0, _View)
    blocks.remember(blocks.table("kept"), 1, _View)
    blocks.revoke()
    assert held == {} and blocks.table("kept") == {}


def test_a_view_made_while_a_revocation_came_in_is_not_kept():
    blocks = ResidentBlocks()
    table = blocks.table("obj")

    def make_view_racing_a_revocation():
        blocks.revoke()
        return _View()

    blocks.remember(table, 0, make_view_racing_a_revocation)
    assert table == {}


def test_tables_of_objects_nobody_reads_are_bounded(monkeypatch):
    monkeypatch.setattr(resident, "_KEPT_TABLES", 2)
    blocks = ResidentBlocks()
    for name in "abc":
        blocks.remember(blocks.table(name), 0, _View)
    gc.collect()
    assert blocks.table("a") == {}  # dropped: the oldest of three
    assert 0 in blocks.table("c")


def test_the_memory_tier_revokes_views_when_it_drops_a_block():
    tier = MemoryTier(TierSpec("memory", 2 * 100))
    revoked = []
    tier.revoke_views = lambda: revoked.append(True)
    tier.put("a", b"a" * 100)
    view = tier.resident("a")
    assert bytes(view.view(10, 20)) == b"a" * 10
    assert tier.resident("missing") is None
    tier.put("b", b"b" * 100)
    assert not revoked  # nothing dropped yet
    tier.put("c", b"c" * 100)  # evicts one
    assert revoked == [True]


def _block_files(tmp_path, data: bytes):
    path = tmp_path / KEY[:2] / KEY
    path.parent.mkdir()
    path.write_bytes(encode_header(data, chunk_size_for(len(data))) + data)
    files = BlockFiles(tmp_path, lambda key, error: None)
    return files, path


def test_a_mapped_block_view_serves_only_checked_chunks_of_an_unchanged_file(tmp_path):
    data = os.urandom(4 * MAPPED_READ_LIMIT)
    files, path = _block_files(tmp_path, data)
    touched = []
    assert files.resident(KEY, lambda: touched.append(1)) is None  # not mapped yet
    assert files.read_into(KEY, 0, 100, memoryview(bytearray(100)))  # checks chunk 0, maps
    view = files.resident(KEY, lambda: touched.append(1))
    assert bytes(view.view(5, 105)) == data[5:105] and touched == [1]
    assert view.view(len(data) - 100, len(data)) is None  # its chunk was never checked
    assert view.view(0, MAPPED_READ_LIMIT + 1) is None  # large reads: preadv, not the mapping
    with open(path, "r+b") as file:
        file.seek(-len(data) + 50, os.SEEK_END)
        file.write(b"\xff")
    assert view.view(5, 105) is None  # the change watch saw the write
    assert touched == [1]


def test_unmapping_a_block_file_revokes_views(tmp_path):
    files, path = _block_files(tmp_path, os.urandom(2 * MAPPED_READ_LIMIT))
    revoked = []
    files.revoke_views = lambda: revoked.append(True)
    assert files.read_into(KEY, 0, 100, memoryview(bytearray(100)))
    files.forget(KEY)
    assert revoked == [True]


def test_a_forked_child_starts_without_the_views_of_its_parent():
    blocks = ResidentBlocks()
    table = blocks.table("obj")
    blocks.remember(table, 0, _View)
    pid = os.fork()
    if pid == 0:  # the child: its tiers rebuild their handles and watches
        os._exit(0 if table == {} else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert 0 in table  # the parent keeps its own
