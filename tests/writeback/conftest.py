"""Fixtures of the write-back tests: local targets (one that can be taken down) and paths."""

from __future__ import annotations

import threading
import time

import pytest
from fsspec.implementations.local import LocalFileSystem


class SwitchableLocalFileSystem(LocalFileSystem):
    """A local target that can be made unreachable or slow, and records the writes it applies.

    For unit tests of ordering and backpressure only; outages of a real store are tested
    against SeaweedFS in test_outage.py.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.up = threading.Event()
        self.up.set()
        self.put_delay = 0.0  # seconds each upload takes, to let uploads overlap
        self.held_path: str | None = None  # an upload of this path waits for ``released``
        self.released = threading.Event()
        self.applied: list[tuple[str, str]] = []
        self._applied_lock = threading.Lock()

    def _check(self, kind: str, path: str) -> None:
        if not self.up.is_set():
            raise ConnectionError("target is down (test)")
        with self._applied_lock:
            self.applied.append((kind, path))

    def put_file(self, lpath, rpath, **kwargs):
        self._check("put", rpath)
        time.sleep(self.put_delay)
        if rpath == self.held_path:
            self.released.wait()
        return super().put_file(lpath, rpath, **kwargs)

    def rm_file(self, path):
        self._check("rm", path)
        return super().rm_file(path)

    def mv(self, path1, path2, **kwargs):
        self._check("mv", path1)
        return super().mv(path1, path2, **kwargs)


@pytest.fixture
def target(tmp_path):
    """A switchable local target; ``target.root`` is an empty directory to write under."""
    fs = SwitchableLocalFileSystem(skip_instance_cache=True)
    fs.root = str(tmp_path / "target")
    fs.makedirs(fs.root)
    return fs


@pytest.fixture
def buffer_dir(tmp_path):
    return tmp_path / "buffer"
