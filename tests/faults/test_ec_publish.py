"""An EC write whose manifest cannot be published, nor taken back everywhere (targets
that went down between the two): the write raises, and the file is absent or whole,
never a manifest without its fragments. Seen in test_store_outage; made deterministic here
with targets whose manifest writes and removals fail (the store stays real: local files)."""

from __future__ import annotations

import os

import pytest

from tierfs.ec import ECFileSystem, ECWriteError

DATA = os.urandom(5 * 4 * 4096 + 123)


class _FailingMetadata:
    """A target filesystem on which manifest writes (``pipe_file``) or removals fail."""

    def __init__(self, inner, failing: str):
        self.inner = inner
        self.failing = failing

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def pipe_file(self, path, *args, **kwargs):
        if self.failing == "pipe_file" and "/meta/" in path:
            raise ConnectionError("target went down (test)")
        return self.inner.pipe_file(path, *args, **kwargs)

    def rm_file(self, path):
        if self.failing == "rm_file" and "/meta/" in path:
            raise ConnectionError("target went down (test)")
        return self.inner.rm_file(path)


def test_a_publication_that_cannot_be_undone_leaves_the_whole_file_not_a_ghost(
        tmp_path, reliability):
    targets = [f"file://{tmp_path}/node{i}" for i in range(6)]
    fs = ECFileSystem(targets=targets, cell_size=4096, skip_instance_cache=True)
    placement = fs.catalog.placement("f")
    for target in placement[:3]:
        target.fs = _FailingMetadata(target.fs, "pipe_file")
    placement[3].fs = _FailingMetadata(placement[3].fs, "rm_file")
    with pytest.raises(ECWriteError, match="could not be removed") as caught:
        fs.pipe_file("f", DATA)
    assert caught.value.left_on == (placement[3].url,)
    fresh = ECFileSystem(targets=targets, cell_size=4096, skip_instance_cache=True)
    read = fresh.cat_file("f") if fresh.exists("f") else None
    reliability.fault = "EC manifest publish failing on 3 of 6 targets, its undo on 1"
    reliability.injections = 4
    reliability.operations = 1
    reliability.clean_errors = 1
    reliability.bytes_verified = len(read or b"")
    reliability.wrong_bytes = 0 if read in (None, DATA) else len(DATA)
    assert read in (None, DATA)
