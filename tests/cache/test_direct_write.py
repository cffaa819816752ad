"""New block files written around the page cache hold exactly their parts, on any filesystem."""

from __future__ import annotations

import errno
import os

import pytest

from tierfs.cache import direct_write
from tierfs.cache.direct_write import DirectWriter

PAGE = 4096


@pytest.mark.parametrize("data_length", [0, 1, PAGE - 1, PAGE, PAGE + 1, 4 * 2**20 + 17])
def test_a_new_file_holds_its_parts_end_to_end(tmp_path, data_length):
    header, data = os.urandom(PAGE), os.urandom(data_length)
    writer = DirectWriter()
    for index in range(3):  # buffers are reused: no byte of a previous file leaks in
        path = tmp_path / f"f{index}"
        writer.write_new(str(path), (header, memoryview(data)))
        assert path.read_bytes() == header + data
        assert path.stat().st_mode & 0o777 == 0o600


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
