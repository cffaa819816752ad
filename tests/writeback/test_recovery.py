"""A new WriteBackBuffer on the same directory finishes what the previous one acknowledged."""

from __future__ import annotations

import os
import time

import pytest

from tierfs.writeback import JournalCorruptError, WriteBackBuffer


def test_acknowledged_work_left_at_close_is_uploaded_by_the_next_buffer(target, buffer_dir):
    a, b = f"{target.root}/a", f"{target.root}/b"
    target.up.clear()
    with WriteBackBuffer(buffer_dir, "1MiB", target) as buffer:
        buffer.pipe(a, b"first")
        buffer.mv(a, b)
        buffer.pipe(a, b"second")
    with WriteBackBuffer(buffer_dir, "1MiB", target, retry_initial=0.05) as buffer:
        assert buffer.stats()["pending_ops"] == 3
        target.up.set()
        assert buffer.wait_flushed(10)
    assert target.cat_file(a) == b"second"
    assert target.cat_file(b) == b"first"
    assert os.listdir(buffer_dir / "blobs") == []
    assert (buffer_dir / "journal").stat().st_size == 0


def test_a_file_never_closed_is_never_uploaded(target, buffer_dir):
    buffer = WriteBackBuffer(buffer_dir, "1MiB", target)
    writer = buffer.open_write(f"{target.root}/partial")
    writer.write(b"half a file")
    buffer.close()  # the writer was never closed: its bytes were never acknowledged
    with WriteBackBuffer(buffer_dir, "1MiB", target) as buffer:
        assert buffer.wait_flushed(10)
        assert buffer.lookup(f"{target.root}/partial") is None
    assert not target.exists(f"{target.root}/partial")
    assert os.listdir(buffer_dir / "blobs") == []


def test_a_writer_left_by_an_exception_is_discarded(target, buffer_dir):
    with WriteBackBuffer(buffer_dir, "1MiB", target) as buffer:
        with pytest.raises(RuntimeError), buffer.open_write(f"{target.root}/f") as file:
            file.write(b"some")
            raise RuntimeError("the producer failed")
        assert buffer.wait_flushed(10)
        assert buffer.stats()["used_bytes"] == 0
    assert not target.exists(f"{target.root}/f")


def test_a_torn_journal_tail_is_dropped(target, buffer_dir):
    target.up.clear()
    with WriteBackBuffer(buffer_dir, "1MiB", target) as buffer:
        buffer.pipe(f"{target.root}/kept", b"acknowledged")
    with open(buffer_dir / "journal", "ab") as journal:
        journal.write(b'0badc0de {"op":"write","seq":9')  # an append cut by a crash
    target.up.set()
    with WriteBackBuffer(buffer_dir, "1MiB", target) as buffer:
        assert buffer.wait_flushed(10)
    assert target.cat_file(f"{target.root}/kept") == b"acknowledged"


def test_damage_before_valid_records_is_reported_not_skipped(target, buffer_dir):
    target.up.clear()
    with WriteBackBuffer(buffer_dir, "1MiB", target) as buffer:
        buffer.pipe(f"{target.root}/a", b"1")
        buffer.pipe(f"{target.root}/b", b"2")
    journal = (buffer_dir / "journal").read_bytes()
    (buffer_dir / "journal").write_bytes(b"ffffffff" + journal[8:])
    with pytest.raises(JournalCorruptError, match="damaged record at byte 0"):
        WriteBackBuffer(buffer_dir, "1MiB", target)


def test_a_journal_under_a_queue_that_never_empties_is_compacted(
    target, buffer_dir, monkeypatch
):
    monkeypatch.setattr("tierfs.writeback.buffer.COMPACT_JOURNAL_BYTES", 8 * 1024)
    paths = [f"{target.root}/f{index:03d}" for index in range(300)]
    target.held_path = paths[0]  # its upload hangs, so the queue never empties
    with WriteBackBuffer(buffer_dir, "16MiB", target, upload_workers=2) as buffer:
        largest = 0
        for index, path in enumerate(paths):
            buffer.pipe(path, b"%d" % index)
            largest = max(largest, (buffer_dir / "journal").stat().st_size)
            # the other uploads keep up (a bounded backlog), however slow the machine
            deadline = time.monotonic() + 10
            while buffer.stats()["pending_ops"] > 8 and time.monotonic() < deadline:
                time.sleep(0.001)
        assert buffer.stats()["pending_ops"] > 0
        target.released.set()
        buffer.close()  # leave work behind: the compacted journal must replay correctly
    # 300 writes journal about 45 KiB; compacted at 8 KiB, it never holds much more
    assert largest < 12 * 1024, largest
    with WriteBackBuffer(buffer_dir, "16MiB", target) as buffer:
        assert buffer.wait_flushed(30)
    for index, path in enumerate(paths):
        assert target.cat_file(path) == b"%d" % index
