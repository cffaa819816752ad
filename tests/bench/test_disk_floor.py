"""The disk floor the read benchmark measures beside each cold run."""

from __future__ import annotations

import os

import pytest

from tierfs_bench.disk_floor import WRITE_SIZE, time_disk_writes


@pytest.fixture
def pages_written(monkeypatch) -> list[bytes]:
    """Every 4 KiB page the floor writes, in order of writing."""
    pages = []
    real_write = os.write

    def recording_write(fd, data):
        count = real_write(fd, data)
        view = memoryview(data)[:count]
        pages.extend(bytes(view[at:at + 4096]) for at in range(0, count, 4096))
        return count

    monkeypatch.setattr(os, "write", recording_write)
    return pages


def test_the_floor_writes_the_bytes_asked_for_and_leaves_no_file(tmp_path, pages_written):
    seconds = time_disk_writes(tmp_path, 3 * WRITE_SIZE + 1, writers=2)

    assert seconds > 0
    assert len(pages_written) * 4096 == 4 * WRITE_SIZE  # whole writes, over 2 files
    assert list(tmp_path.iterdir()) == []


def test_no_two_pages_written_are_the_same(tmp_path, pages_written):
    time_disk_writes(tmp_path, 4 * WRITE_SIZE, writers=2)

    assert len(set(pages_written)) == len(pages_written) == 4 * WRITE_SIZE // 4096
