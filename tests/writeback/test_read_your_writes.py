"""Reads see buffered operations before the target does: lookup() and pending()."""

from __future__ import annotations

from pathlib import Path

from tierfs.writeback import DELETED, BufferedFile, Redirect, WriteBackBuffer


def test_a_buffered_file_is_visible_with_its_final_size_before_upload(target, buffer_dir):
    target.up.clear()
    with WriteBackBuffer(buffer_dir, "1MiB", target) as buffer:
        path = f"{target.root}/dir/file"
        with buffer.open_write(path) as file:
            file.write(b"abc")
            file.write(b"defg")
        entry = buffer.lookup(path)
        assert isinstance(entry, BufferedFile)
        assert entry.size == 7
        assert Path(entry.local_path).read_bytes() == b"abcdefg"
        assert not target.exists(path)


def test_an_overwrite_shows_the_new_content(target, buffer_dir):
    target.up.clear()
    with WriteBackBuffer(buffer_dir, "1MiB", target) as buffer:
        path = f"{target.root}/file"
        buffer.pipe(path, b"old")
        buffer.pipe(path, b"newer")
        assert Path(buffer.lookup(path).local_path).read_bytes() == b"newer"


def test_a_removed_file_is_deleted_until_applied_then_unknown(target, buffer_dir):
    path = f"{target.root}/file"
    target.pipe(path, b"in the target")
    target.up.clear()
    with WriteBackBuffer(buffer_dir, "1MiB", target, retry_initial=0.05) as buffer:
        buffer.rm(path)
        assert buffer.lookup(path) is DELETED
        assert target.exists(path)
        target.up.set()
        assert buffer.wait_flushed(10)
        assert buffer.lookup(path) is None
        assert not target.exists(path)


def test_renaming_a_buffered_file_moves_its_bytes_in_the_overlay(target, buffer_dir):
    target.up.clear()
    with WriteBackBuffer(buffer_dir, "1MiB", target) as buffer:
        src, dst = f"{target.root}/a", f"{target.root}/b"
        buffer.pipe(src, b"payload")
        buffer.mv(src, dst)
        assert buffer.lookup(src) is DELETED
        assert Path(buffer.lookup(dst).local_path).read_bytes() == b"payload"


def test_renaming_a_file_only_in_the_target_redirects_reads_to_its_old_name(target, buffer_dir):
    src, dst = f"{target.root}/a", f"{target.root}/b"
    target.pipe(src, b"remote")
    target.up.clear()
    with WriteBackBuffer(buffer_dir, "1MiB", target) as buffer:
        buffer.mv(src, dst)
        assert buffer.lookup(dst) == Redirect(src)
        buffer.mv(dst, f"{target.root}/c")
        assert buffer.lookup(f"{target.root}/c") == Redirect(src)


def test_pending_lists_entries_under_a_prefix_only(target, buffer_dir):
    target.up.clear()
    with WriteBackBuffer(buffer_dir, "1MiB", target) as buffer:
        buffer.pipe(f"{target.root}/d/x", b"1")
        buffer.pipe(f"{target.root}/d/sub/y", b"2")
        buffer.pipe(f"{target.root}/dx", b"3")
        buffer.rm(f"{target.root}/d/z")
        listed = buffer.pending(f"{target.root}/d")
        assert set(listed) == {f"{target.root}/d/{name}" for name in ("x", "sub/y", "z")}
        assert listed[f"{target.root}/d/z"] is DELETED
        assert len(buffer.pending()) == 4


def test_an_uploaded_file_is_offered_to_on_uploaded_while_its_bytes_exist(target, buffer_dir):
    seen = []

    def on_uploaded(path: str, local_path: str) -> None:
        seen.append((path, Path(local_path).read_bytes()))

    with WriteBackBuffer(buffer_dir, "1MiB", target, on_uploaded=on_uploaded) as buffer:
        buffer.pipe(f"{target.root}/f", b"hot")
        assert buffer.wait_flushed(10)
    assert seen == [(f"{target.root}/f", b"hot")]
    assert buffer.lookup(f"{target.root}/f") is None


def test_removed_and_renamed_paths_are_reported_without_a_file(target, buffer_dir):
    seen = []
    root = target.root
    with WriteBackBuffer(buffer_dir, "1MiB", target,
                         on_uploaded=lambda path, local: seen.append((path, local))) as buffer:
        buffer.pipe(f"{root}/a", b"a")
        buffer.pipe(f"{root}/b", b"b")
        assert buffer.wait_flushed(10)
        seen.clear()
        buffer.rm(f"{root}/a")
        buffer.mv(f"{root}/b", f"{root}/c")
        assert buffer.wait_flushed(10)
    assert sorted(seen) == [(f"{root}/a", None), (f"{root}/b", None), (f"{root}/c", None)]
