"""A forked child reads through its parent's buffer and can never damage it."""

from __future__ import annotations

import json
import os
import weakref

import pytest

from tierfs.writeback import BufferedFile, BufferLockedError, WriteBackBuffer
from tierfs.writeback.lock import lock_holder

_RETRY_MAX = 0.5  # the target comes back within the test: retry soon after it does


def in_forked_child(work) -> dict:
    """Run ``work()`` in a forked child; return the dict it returned (or its error)."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            report = work()
        except BaseException as error:  # noqa: BLE001 - reported to the parent
            report = {"error": f"{type(error).__name__}: {error}"}
        os.write(write_end, json.dumps(report).encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(child, 0)
    with os.fdopen(read_end, "rb") as reader:
        return json.loads(reader.read())


def test_a_forked_child_sees_what_the_parent_buffered_since_the_fork(target, buffer_dir):
    target.up.clear()  # nothing uploads: every write stays pending
    with WriteBackBuffer(buffer_dir, "1MiB", target, retry_max=_RETRY_MAX) as buffer:
        buffer.pipe(f"{target.root}/before", b"old")
        read_end, write_end = os.pipe()
        go_read, go_write = os.pipe()
        child = os.fork()
        if child == 0:
            os.read(go_read, 1)  # wait until the parent wrote after the fork
            entry = buffer.lookup(f"{target.root}/after")
            listing = sorted(buffer.pending(target.root))
            with open(entry.local_path, "rb") as file:
                report = {"data": file.read().decode(), "listing": listing,
                          "pending_ops": buffer.stats()["pending_ops"]}
            os.write(write_end, json.dumps(report).encode())
            os._exit(0)
        buffer.pipe(f"{target.root}/after", b"new")
        os.write(go_write, b"x")
        os.waitpid(child, 0)
        report = json.loads(os.read(read_end, 10000))
        target.up.set()
        assert buffer.wait_flushed(timeout=30)
    assert report == {"data": "new", "listing": [f"{target.root}/after", f"{target.root}/before"],
                      "pending_ops": 2}


def test_a_forked_child_cannot_write_and_is_told_how(target, buffer_dir):
    with WriteBackBuffer(buffer_dir, "1MiB", target) as buffer:
        report = in_forked_child(lambda: buffer.pipe(f"{target.root}/x", b"x") or {})
    assert "RuntimeError" in report["error"]
    assert "buffer_dir of its own" in report["error"]


def test_closing_the_buffer_in_a_child_leaves_the_parent_holding_its_lock(target, buffer_dir):
    with WriteBackBuffer(buffer_dir, "1MiB", target) as buffer:
        report = in_forked_child(lambda: buffer.close() or {"closed": True})
        assert report == {"closed": True}
        assert lock_holder(buffer_dir) == os.getpid()
        with pytest.raises(BufferLockedError):
            WriteBackBuffer(buffer_dir, "1MiB", target)
        buffer.pipe(f"{target.root}/still-writable", b"yes")
        assert buffer.wait_flushed(timeout=30)
    assert target.cat_file(f"{target.root}/still-writable") == b"yes"


def test_the_parents_writes_land_intact_after_a_child_used_and_dropped_the_buffer(
    target, buffer_dir
):
    """The child reads, tries to write, drops an inherited half-written file, closes, exits."""
    target.up.clear()
    payloads = {f"{target.root}/file-{i}": os.urandom(1000 + i) for i in range(20)}
    with WriteBackBuffer(buffer_dir, "16MiB", target, retry_max=_RETRY_MAX) as buffer:
        for path, data in payloads.items():
            buffer.pipe(path, data)
        open_writer = buffer.open_write(f"{target.root}/open")
        open_writer.write(b"a" * 5000)  # still in the writer's user-space buffer at the fork

        def child_work() -> dict:
            nonlocal open_writer
            entry = buffer.lookup(f"{target.root}/file-3")
            with open(entry.local_path, "rb") as file:
                read = file.read()
            try:
                open_writer.close()
                closed = "acknowledged"
            except RuntimeError:
                closed = "refused"
            dropped = weakref.ref(open_writer)
            open_writer = None  # no gc.collect(): it would run finalizers the child inherited
            buffer.close()
            return {"read_ok": read == payloads[f"{target.root}/file-3"], "close": closed,
                    "dropped": dropped() is None}

        assert in_forked_child(child_work) == {"read_ok": True, "close": "refused",
                                               "dropped": True}
        open_writer.write(b"b" * 5000)
        open_writer.close()
        entry = buffer.lookup(f"{target.root}/open")
        assert isinstance(entry, BufferedFile) and entry.size == 10000
        target.up.set()
        assert buffer.wait_flushed(timeout=60)
    for path, data in payloads.items():
        assert target.cat_file(path) == data
    assert target.cat_file(f"{target.root}/open") == b"a" * 5000 + b"b" * 5000
