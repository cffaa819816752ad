"""Checked chunks are remembered per state of a block file; any change forgets them."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from tierfs.cache import TUNING, block_files, block_format, block_handle
from tierfs.cache.block_files import BlockFiles
from tierfs.cache.block_format import chunk_size_for, encode_header
from tierfs.cache.change_watch import EVERYTHING, ChangeWatch

CHUNK = 64 * 2**10
KEY = "ab" * 16


@pytest.fixture
def stored(tmp_path):
    """A 4-chunk block file and a BlockFiles over its directory that records corruption."""
    data = os.urandom(4 * CHUNK)
    path = tmp_path / KEY[:2] / KEY
    path.parent.mkdir()
    path.write_bytes(encode_header(data, chunk_size_for(len(data))) + data)
    corrupt = []
    files = BlockFiles(tmp_path, lambda key, error: corrupt.append((key, str(error))))
    return files, path, data, corrupt


def _count_hashes(monkeypatch) -> list[int]:
    """The lengths hashed from now on (the header's table, then data chunks)."""
    calls = []
    real = block_format.xxhash.xxh3_64_intdigest

    def counting(data):
        calls.append(len(data))
        return real(data)

    monkeypatch.setattr(block_format.xxhash, "xxh3_64_intdigest", counting)
    return calls


def test_a_chunk_is_hashed_on_its_first_read_only(stored, monkeypatch):
    files, _path, data, corrupt = stored
    hashes = _count_hashes(monkeypatch)
    assert bytes(files.read(KEY, 100, CHUNK + 100)) == data[100:CHUNK + 100]
    assert hashes.count(CHUNK) == 2  # chunks 0 and 1, read whole
    dest = memoryview(bytearray(CHUNK))
    assert files.read_into(KEY, 50, CHUNK + 50, dest) and bytes(dest) == data[50:CHUNK + 50]
    assert bytes(files.read(KEY, 0, 2 * CHUNK)) == data[:2 * CHUNK]
    assert hashes.count(CHUNK) == 2  # nothing hashed again
    assert bytes(files.read(KEY, 2 * CHUNK - 1, 2 * CHUNK + 1)) == data[2 * CHUNK - 1:2 * CHUNK + 1]
    assert hashes.count(CHUNK) == 4  # chunk 2 is new: the range's chunks 1 and 2 are checked
    assert not corrupt


def test_a_rewrite_of_a_checked_chunk_is_caught_through_an_open_handle(stored):
    files, path, data, corrupt = stored
    assert bytes(files.read(KEY, 0, None)) == data  # every chunk checked, handle kept open
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, b"\xff", path.stat().st_size - 10)  # same size, same inode
    finally:
        os.close(fd)
    assert files.read(KEY, 3 * CHUNK, 4 * CHUNK) is None
    assert [key for key, _ in corrupt] == [KEY]


def test_a_truncated_file_is_never_read_past_its_end(stored):
    files, path, data, corrupt = stored
    assert bytes(files.read(KEY, 0, None)) == data
    os.truncate(path, path.stat().st_size - 1)
    assert files.read(KEY, 3 * CHUNK, 4 * CHUNK) is None
    assert corrupt


def _store_block(directory, key: str, data: bytes):
    path = directory / key[:2] / key
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(encode_header(data, chunk_size_for(len(data))) + data)
    return path


def _mapped_keys(files: BlockFiles) -> set[str]:
    return {key for key, handle in files._handles.items() if handle.mapped}


@pytest.fixture
def large(tmp_path):
    """A block well over the mapped read limit, so small reads of it go through a mapping."""
    data = os.urandom(4 * TUNING.mapped_read_limit + 12345)
    path = _store_block(tmp_path, KEY, data)
    corrupt = []
    files = BlockFiles(tmp_path, lambda key, error: corrupt.append((key, str(error))))
    return files, path, data, corrupt


def _read_into(files: BlockFiles, start: int, end: int) -> bytes | None:
    dest = memoryview(bytearray(end - start))
    return bytes(dest) if files.read_into(KEY, start, end, dest) else None


def test_small_reads_of_a_large_block_are_copied_from_a_mapping(large, monkeypatch):
    files, _path, data, corrupt = large
    assert _read_into(files, 1000, 70000) == data[1000:70000]
    assert _mapped_keys(files) == {KEY}
    assert bytes(files.read(KEY, 0, None)) == data  # every chunk checked
    monkeypatch.setattr(os, "preadv", None)  # the warm small reads must not need it
    for start in (0, 5, TUNING.mapped_read_limit - 7, len(data) - 4096):
        assert _read_into(files, start, start + 4096) == data[start:start + 4096]
    assert not corrupt


def test_large_reads_do_not_map(large):
    files, _path, data, _corrupt = large
    assert _read_into(files, 0, TUNING.mapped_read_limit + 1) == data[:TUNING.mapped_read_limit + 1]
    assert bytes(files.read(KEY, 0, None)) == data
    assert _mapped_keys(files) == set()
    assert _read_into(files, 5, 105) == data[5:105]  # a small read maps it
    assert _mapped_keys(files) == {KEY}


def test_a_resident_view_maps_its_file_and_large_reads_copy_from_the_mapping(
        large, monkeypatch):
    files, _path, data, corrupt = large
    assert bytes(files.read(KEY, 0, None)) == data  # every chunk checked, not mapped
    assert _mapped_keys(files) == set()
    view = files.view(KEY, lambda hits: None)  # the fastest tier's view: maps the file
    assert _mapped_keys(files) == {KEY}
    monkeypatch.setattr(os, "preadv", None)  # large reads of a mapped file copy from it
    dest = memoryview(bytearray(len(data) - 3))
    assert view.read(3, len(data), dest) is dest and dest == data[3:]
    assert _read_into(files, 0, len(data)) == data
    assert not corrupt


def test_a_rewrite_is_caught_before_a_mapped_copy(large):
    files, path, data, corrupt = large
    assert _read_into(files, 0, 4096) == data[:4096]
    assert _mapped_keys(files) == {KEY}
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, b"\xff", path.stat().st_size - len(data) + 10)  # in place, byte 10
    finally:
        os.close(fd)
    assert _read_into(files, 0, 4096) is None
    assert [key for key, _ in corrupt] == [KEY]


def test_a_truncated_mapped_file_is_not_touched_through_its_mapping(large):
    files, path, data, corrupt = large
    tail = len(data) - 4096
    assert _read_into(files, tail, len(data)) == data[tail:]
    assert _mapped_keys(files) == {KEY}
    os.truncate(path, path.stat().st_size - 3 * TUNING.mapped_read_limit)  # pages of the mapping
    assert _read_into(files, tail, len(data)) is None  # a copy would have raised SIGBUS
    assert corrupt


def test_mappings_are_bounded(tmp_path):
    files = BlockFiles(tmp_path, lambda key, error: pytest.fail(f"{key}: {error}"),
                       tuning=replace(TUNING, mapped_blocks=3))
    blocks = {f"{n:02x}" * 16: os.urandom(2 * TUNING.mapped_read_limit) for n in range(6)}
    for key, data in blocks.items():
        _store_block(tmp_path, key, data)
    for key, data in blocks.items():
        dest = memoryview(bytearray(100))
        assert files.read_into(key, 7, 107, dest) and bytes(dest) == data[7:107]
    assert _mapped_keys(files) == set(list(blocks)[-3:])
    for key, data in blocks.items():  # unmapped handles read with preadv
        dest = memoryview(bytearray(100))
        assert files.read_into(key, 200, 300, dest) and bytes(dest) == data[200:300]


def test_mapped_reads_ask_the_change_watch_not_fstat(large, monkeypatch):
    files, _path, data, _corrupt = large
    assert _read_into(files, 0, 4096) == data[:4096]
    assert _mapped_keys(files) == {KEY}

    def no_state(fd):
        raise AssertionError("a mapped read of a checked range called fstat")

    monkeypatch.setattr(block_files, "state_of", no_state)
    monkeypatch.setattr(block_handle, "state_of", no_state)
    assert _read_into(files, 10, 4000) == data[10:4000]


def test_an_unlinked_mapped_file_is_no_longer_served(large):
    files, path, data, corrupt = large
    assert _read_into(files, 0, 4096) == data[:4096]
    path.unlink()  # another process evicted it
    assert _read_into(files, 0, 4096) is None
    assert not corrupt and KEY not in files._handles


def test_without_inotify_small_reads_check_the_state_and_still_catch_a_rewrite(
        large, monkeypatch):
    monkeypatch.setattr(block_files, "open_change_watch", lambda: None)
    files, path, data, corrupt = large
    assert _read_into(files, 0, 4096) == data[:4096]
    assert _mapped_keys(files) == set()
    assert _read_into(files, 100, 200) == data[100:200]
    with open(path, "r+b") as file:
        file.seek(path.stat().st_size - len(data) + 150)
        file.write(b"\xff")
    assert _read_into(files, 100, 200) is None
    assert [key for key, _ in corrupt] == [KEY]


def test_lost_change_events_forget_every_file(tmp_path, monkeypatch):
    files = BlockFiles(tmp_path, lambda key, error: pytest.fail(f"{key}: {error}"))
    blocks = {f"{n:02x}" * 16: os.urandom(2 * TUNING.mapped_read_limit) for n in (1, 2)}
    paths = [_store_block(tmp_path, key, data) for key, data in blocks.items()]
    for key in blocks:
        assert files.read_into(key, 0, 10, memoryview(bytearray(10)))
    assert _mapped_keys(files) == set(blocks)
    monkeypatch.setattr(ChangeWatch, "_read_changes", lambda watch: EVERYTHING)
    os.utime(paths[0])  # any event, so that the queue is read
    first, second = blocks
    dest = memoryview(bytearray(10))
    assert files.read_into(first, 0, 10, dest) and bytes(dest) == blocks[first][:10]
    assert second not in files._handles
