"""Operations on the same path reach the target in the order they were acknowledged."""

from __future__ import annotations

import time

from tierfs.writeback import WriteBackBuffer


def test_overwrite_delete_rename_sequence_ends_in_the_last_state(target, buffer_dir):
    a, b, c = (f"{target.root}/{name}" for name in "abc")
    target.up.clear()  # everything queues first, so the uploader could reorder if it would
    with WriteBackBuffer(buffer_dir, "4MiB", target, upload_workers=8, retry_initial=0.05) as buf:
        buf.pipe(a, b"v1")
        buf.pipe(a, b"v2")
        buf.mv(a, b)
        buf.pipe(a, b"v3")
        buf.rm(b)
        buf.pipe(c, b"c1")
        buf.mv(a, c)
        buf.pipe(a, b"v4")
        target.up.set()
        assert buf.wait_flushed(10)
    assert {path: target.cat_file(path) for path in target.find(target.root)} == {
        a: b"v4", c: b"v3",
    }
    kinds = [kind for kind, path in target.applied if path == a]
    collapsed = [kind for i, kind in enumerate(kinds) if i == 0 or kind != kinds[i - 1]]
    assert collapsed == ["put", "mv", "put", "mv", "put"]  # v1/v2 may be one upload


def test_a_delete_never_overtakes_the_upload_it_follows(target, buffer_dir):
    target.put_delay = 0.2
    path = f"{target.root}/checkpoint"
    with WriteBackBuffer(buffer_dir, "4MiB", target, upload_workers=4) as buffer:
        buffer.pipe(path, b"x" * 1000)
        deadline = time.monotonic() + 10
        while not target.applied and time.monotonic() < deadline:
            time.sleep(0.005)  # the upload has started (and takes 0.2 s)
        buffer.rm(path)
        assert buffer.wait_flushed(10)
    assert not target.exists(path)
    assert target.applied == [("put", path), ("rm", path)]


def test_independent_paths_upload_concurrently(target, buffer_dir):
    target.put_delay = 0.3
    with WriteBackBuffer(buffer_dir, "4MiB", target, upload_workers=4) as buffer:
        started = time.monotonic()
        for index in range(4):
            buffer.pipe(f"{target.root}/f{index}", b"data")
        assert buffer.wait_flushed(10)
        assert time.monotonic() - started < 0.3 * 3


def test_wait_flushed_times_out_while_the_target_is_down(target, buffer_dir):
    target.up.clear()
    with WriteBackBuffer(buffer_dir, "1MiB", target, retry_initial=0.05) as buffer:
        buffer.pipe(f"{target.root}/f", b"data")
        assert not buffer.wait_flushed(timeout=0.3)
        assert buffer.stats()["retries"] >= 1
        assert "target is down" in buffer.stats()["last_error"]
        target.up.set()
        assert buffer.wait_flushed(timeout=10)


def test_a_write_replaced_before_its_upload_started_is_never_uploaded(target, buffer_dir):
    a = f"{target.root}/latest"
    target.up.clear()
    with WriteBackBuffer(buffer_dir, "4MiB", target, retry_initial=0.05) as buffer:
        for version in range(5):
            buffer.pipe(a, b"checkpoint %d" % version)
        buffer.pipe(f"{target.root}/gone", b"short-lived")
        buffer.rm(f"{target.root}/gone")
        assert buffer.stats()["replaced_unuploaded"] >= 4
        target.up.set()
        assert buffer.wait_flushed(10)
    assert target.cat_file(a) == b"checkpoint 4"
    assert not target.exists(f"{target.root}/gone")
    assert ("put", f"{target.root}/gone") not in target.applied
    assert target.applied.count(("put", a)) <= 2  # at most the one in flight when down, + last
