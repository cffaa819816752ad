"""A full buffer never drops data: writers wait, write through, or fail, by ``when_full``."""

from __future__ import annotations

import threading

import pytest

from tierfs.writeback import BufferFullError, WriteBackBuffer

KIB = 1024


def test_when_full_wait_blocks_writers_until_uploads_free_room(target, buffer_dir):
    target.up.clear()
    with WriteBackBuffer(buffer_dir, 10 * KIB, target, retry_initial=0.05) as buffer:
        buffer.pipe(f"{target.root}/first", b"x" * 8 * KIB)
        second = threading.Thread(
            target=buffer.pipe, args=(f"{target.root}/second", b"y" * 8 * KIB)
        )
        second.start()
        second.join(0.5)
        assert second.is_alive(), "the writer should wait while the buffer is full"
        target.up.set()
        second.join(10)
        assert not second.is_alive()
        assert buffer.wait_flushed(10)
    assert target.cat_file(f"{target.root}/second") == b"y" * 8 * KIB


def test_when_full_fail_raises_enospc_and_acknowledges_nothing(target, buffer_dir):
    target.up.clear()
    with WriteBackBuffer(buffer_dir, 10 * KIB, target, when_full="fail") as buffer:
        buffer.pipe(f"{target.root}/first", b"x" * 8 * KIB)
        with pytest.raises(BufferFullError, match="buffer_capacity") as raised:
            buffer.pipe(f"{target.root}/second", b"y" * 8 * KIB)
        assert raised.value.errno == 28
        assert buffer.lookup(f"{target.root}/second") is None
        assert buffer.stats()["used_bytes"] == 8 * KIB


def test_a_writer_that_failed_a_write_does_not_acknowledge_on_close(target, buffer_dir):
    target.up.clear()
    with WriteBackBuffer(buffer_dir, 10 * KIB, target, when_full="fail") as buffer:
        writer = buffer.open_write(f"{target.root}/f")
        writer.write(b"a" * 6 * KIB)
        with pytest.raises(BufferFullError):
            writer.write(b"b" * 6 * KIB)
        writer.close()
        assert buffer.lookup(f"{target.root}/f") is None


def test_when_full_through_writes_straight_to_the_target(target, buffer_dir):
    with WriteBackBuffer(buffer_dir, 10 * KIB, target, when_full="through") as buffer:
        with buffer.open_write(f"{target.root}/big") as file:
            for _ in range(5):
                file.write(b"z" * 4 * KIB)  # spills on the third write
        assert target.cat_file(f"{target.root}/big") == b"z" * 20 * KIB
        assert buffer.lookup(f"{target.root}/big") is None
        assert buffer.stats()["used_bytes"] == 0


def test_a_write_through_waits_for_buffered_operations_on_its_path(target, buffer_dir):
    path = f"{target.root}/f"
    target.up.clear()
    with WriteBackBuffer(
        buffer_dir, 10 * KIB, target, when_full="through", retry_initial=0.05
    ) as buffer:
        buffer.pipe(path, b"old" * KIB)
        through = threading.Thread(target=buffer.pipe, args=(path, b"new" * 4 * KIB))
        through.start()
        through.join(0.3)
        assert through.is_alive(), "must not overtake the buffered write of the same path"
        target.up.set()
        through.join(10)
        assert buffer.wait_flushed(10)
    assert target.cat_file(path) == b"new" * 4 * KIB


def test_a_file_larger_than_the_buffer_fails_instead_of_waiting_forever(target, buffer_dir):
    with WriteBackBuffer(buffer_dir, 10 * KIB, target) as buffer:
        with pytest.raises(BufferFullError, match="buffer_capacity"):
            buffer.pipe(f"{target.root}/huge", b"h" * 11 * KIB)
        assert buffer.stats()["used_bytes"] == 0
