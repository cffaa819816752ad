"""Large reads of a block file read its head so that the kernel caches it in huge folios."""

from __future__ import annotations

import os

import pytest

from tierfs.cache import block_files, folio_fill
from tierfs.cache.block_files import MAPPED_READ_LIMIT, BlockFiles
from tierfs.cache.block_format import chunk_size_for, encode_header
from tierfs.cache.folio_fill import read_head
from tierfs.cache.huge_pages import HUGE_PAGE


@pytest.mark.parametrize("size", [10, HUGE_PAGE - 1, HUGE_PAGE, 2 * HUGE_PAGE + 4097])
@pytest.mark.parametrize("large_read", [False, True])
def test_the_head_is_the_same_bytes_either_way(tmp_path, size, large_read):
    data = os.urandom(size)
    (tmp_path / "f").write_bytes(data)
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    try:
        assert read_head(fd, 4096, size, large_read=large_read) == data[:4096]
    finally:
        os.close(fd)


def test_a_file_that_cannot_be_mapped_is_read_plainly(tmp_path, monkeypatch):
    data = os.urandom(HUGE_PAGE)
    (tmp_path / "f").write_bytes(data)

    def no_mapping(*args, **kwargs):
        raise OSError("this file system does not map")

    monkeypatch.setattr(folio_fill.mmap, "mmap", no_mapping)
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    try:
        assert read_head(fd, 100, len(data), large_read=True) == data[:100]
    finally:
        os.close(fd)


def test_only_large_reads_ask_for_huge_folios(tmp_path, monkeypatch):
    asked = []

    def recording(fd, length, size, *, large_read):
        asked.append(large_read)
        return os.pread(fd, length, 0)

    monkeypatch.setattr(block_files, "read_head", recording)
    for key in ("ab" * 16, "cd" * 16):
        data = os.urandom(4 * MAPPED_READ_LIMIT)
        path = tmp_path / key[:2] / key
        path.parent.mkdir()
        path.write_bytes(encode_header(data, chunk_size_for(len(data))) + data)
    files = BlockFiles(tmp_path, lambda key, error: pytest.fail(str(error)))
    assert files.read_into("ab" * 16, 0, 100, memoryview(bytearray(100)))
    assert files.read("cd" * 16, 0, None) is not None
    assert asked == [False, True]
