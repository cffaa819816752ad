"""The inotify watch that lets mapped reads skip an fstat: every kind of change is seen."""

from __future__ import annotations

import os

import pytest

from tierfs.cache.change_watch import open_change_watch

KEY = "cd" * 16


@pytest.fixture
def watched(tmp_path):
    path = tmp_path / "block"
    path.write_bytes(os.urandom(8192))
    watch = open_change_watch()
    assert watch is not None, "inotify is available on the Linux machines tierfs runs on"
    fd = os.open(path, os.O_RDONLY)
    watch_id = watch.watch(fd, KEY)
    assert watch_id is not None
    yield watch, path, watch_id
    os.close(fd)
    watch.close()


def _changed(watch) -> set[str]:
    with watch.changes() as changed:
        return set(changed)


def test_nothing_pending_while_the_file_is_only_read(watched):
    watch, path, _ = watched
    assert path.read_bytes()
    assert not watch.pending()
    assert _changed(watch) == set()


@pytest.mark.parametrize("change", ["write", "truncate", "unlink", "rename", "chmod"])
def test_every_change_is_pending_at_once_and_names_its_key(watched, change):
    watch, path, _ = watched
    if change == "write":
        with open(path, "r+b") as file:
            file.write(b"\x00")
    elif change == "truncate":
        os.truncate(path, 100)
    elif change == "unlink":
        path.unlink()
    elif change == "rename":
        path.rename(path.with_name("elsewhere"))
    else:
        path.chmod(0o400)
    assert watch.pending()
    assert _changed(watch) == {KEY}
    assert not watch.pending()


def test_an_unwatched_file_reports_nothing(watched):
    watch, path, watch_id = watched
    watch.unwatch(watch_id)
    with open(path, "r+b") as file:
        file.write(b"\x00")
    assert _changed(watch) == set()


def test_pending_stays_true_until_the_changes_were_acted_on(watched):
    watch, path, _ = watched
    os.truncate(path, 10)
    with watch.changes() as changed:
        assert changed == {KEY}
        assert watch.pending()  # read from the queue, not yet acted on
    assert not watch.pending()
