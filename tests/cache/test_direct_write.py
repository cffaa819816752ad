"""New block files, written around the page cache or through it, hold exactly their parts."""

from __future__ import annotations

import errno
import os
import threading
import time

import pytest

from tierfs.cache import direct_write
from tierfs.cache.config import TierSpec
from tierfs.cache.direct_write import DirectWriter
from tierfs.cache.directory_tier import DirectoryTier
from tierfs.cache.fetch_activity import FetchActivity

PAGE = 4096


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "page-cache"])
@pytest.mark.parametrize("data_length", [0, 1, PAGE - 1, PAGE, PAGE + 1, 4 * 2**20 + 17])
def test_a_new_file_holds_its_parts_end_to_end(tmp_path, data_length, direct):
    header, data = os.urandom(PAGE), os.urandom(data_length)
    writer = DirectWriter()
    for index in range(3):  # buffers are reused: no byte of a previous file leaks in
        path = tmp_path / f"f{index}"
        writer.write_new(str(path), (header, memoryview(data)), direct=direct)
        assert path.read_bytes() == header + data
        assert path.stat().st_mode & 0o777 == 0o600


def test_a_write_through_the_page_cache_is_one_writev_and_survives_short_ones(
        tmp_path, monkeypatch):
    real_writev = os.writev
    calls = []

    def short_writev(fd, buffers):  # the kernel may write less than asked
        buffers = list(buffers)
        calls.append([len(b) for b in buffers])
        return real_writev(fd, [buffers[0][:max(1, len(buffers[0]) // 2)]])

    monkeypatch.setattr(direct_write.os, "writev", short_writev)
    parts = (os.urandom(PAGE), b"", os.urandom(3 * PAGE + 5))
    DirectWriter().write_new(str(tmp_path / "short"), parts, direct=False)
    assert (tmp_path / "short").read_bytes() == b"".join(parts)
    assert calls[0] == [PAGE, 3 * PAGE + 5] and len(calls) > 2  # empty parts dropped


def test_an_existing_file_is_never_overwritten(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"keep")
    with pytest.raises(FileExistsError):
        DirectWriter().write_new(str(path), (os.urandom(PAGE),))
    assert path.read_bytes() == b"keep"


def test_a_filesystem_that_refuses_o_direct_gets_buffered_writes(tmp_path, monkeypatch):
    real_open = os.open
    refused = []

    def no_direct(path, flags, *args):
        if flags & direct_write._O_DIRECT:
            refused.append(path)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, *args)

    monkeypatch.setattr(direct_write.os, "open", no_direct)
    writer = DirectWriter()
    parts = (os.urandom(PAGE), os.urandom(3 * PAGE + 5))
    for name in ("a", "b"):
        writer.write_new(str(tmp_path / name), parts)
        assert (tmp_path / name).read_bytes() == b"".join(parts)
    assert len(refused) == 1  # asked once, then remembered


def test_a_tier_writes_around_the_page_cache_while_its_cache_is_fetching(tmp_path, monkeypatch):
    activity = FetchActivity()
    tier = DirectoryTier(TierSpec("ssd", 2**30, str(tmp_path)), activity)
    real_write = tier._writer.write_new
    direct_flags = []

    def recording_write(path, parts, *, direct=True):
        direct_flags.append(direct)
        real_write(path, parts, direct=direct)

    monkeypatch.setattr(tier._writer, "write_new", recording_write)
    blocks = {f"{n:02x}" * 16: os.urandom(3 * PAGE + n) for n in range(3)}
    keys = iter(blocks)
    key = next(keys)
    tier.put(key, blocks[key])  # nothing fetched yet: through the page cache
    with activity.fetching():
        key = next(keys)
        tier.put(key, blocks[key])
    time.sleep(activity.quiet_seconds * 2)
    key = next(keys)
    tier.put(key, blocks[key])
    assert direct_flags == [False, True, False]
    assert bytes(tier.get(key, 0, None)) == blocks[key]


def test_a_tier_writes_around_the_page_cache_while_someone_waits_for_its_stores(tmp_path):
    activity = FetchActivity()
    tier = DirectoryTier(TierSpec("ssd", 2**30, str(tmp_path)), activity)
    direct_flags = []
    real_write = tier._writer.write_new
    tier._writer.write_new = lambda path, parts, *, direct=True: (
        direct_flags.append(direct), real_write(path, parts, direct=direct))
    data = os.urandom(3 * PAGE + 7)
    with activity.awaited():
        tier.put("ab" * 16, data)
    tier.put("cd" * 16, data)
    assert direct_flags == [True, False]
    assert bytes(tier.get("ab" * 16, 0, None)) == data


def test_threads_writing_one_tier_at_once_share_its_buffers_and_keep_every_byte(tmp_path):
    activity = FetchActivity()
    tier = DirectoryTier(TierSpec("ssd", 2**30, str(tmp_path)), activity)
    blocks = {f"{n:02x}" * 16: os.urandom(64 * PAGE + n) for n in range(24)}
    keys = list(blocks)

    def put_every_other(first: int) -> None:
        for key in keys[first::2]:
            tier.put(key, blocks[key])

    with activity.fetching():  # around the page cache, through the shared aligned buffers
        writers = [threading.Thread(target=put_every_other, args=(n,)) for n in range(2)]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join(30)
    assert all(bytes(tier.get(key, 0, None)) == data for key, data in blocks.items())
    files = [p for p in (tmp_path / "blocks").rglob("*") if p.is_file()]
    assert tier.usage() == (sum(p.stat().st_size for p in files), len(blocks))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_a_forked_child_never_writes_into_its_parent_s_buffers(tmp_path):
    writer = DirectWriter()
    parent_block = os.urandom(4 * PAGE)
    writer.write_new(str(tmp_path / "parent"), (parent_block,))  # leaves a spare buffer
    spare = writer._spare[0]
    before = spare[:len(parent_block)]
    pid = os.fork()
    if pid == 0:  # the child writes another block through its copy of the spare
        try:
            writer.write_new(str(tmp_path / "child"), (b"\xff" * 4 * PAGE,))
        finally:
            os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
    assert (tmp_path / "child").read_bytes() == b"\xff" * 4 * PAGE
    assert spare[:len(parent_block)] == before == parent_block
