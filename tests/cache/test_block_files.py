"""Checked chunks are remembered per state of a block file; any change forgets them."""

from __future__ import annotations

import os

import pytest

from tierfs.cache import block_format
from tierfs.cache.block_files import BlockFiles
from tierfs.cache.block_format import chunk_size_for, encode_header

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
