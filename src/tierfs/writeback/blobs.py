"""Names for buffered files, created ahead in batches so an acknowledgement skips a directory fsync.

A new file's name is durable only once its directory is fsynced. Creating blob files 64 at
a time and fsyncing ``blobs/`` once per batch makes each acknowledgement cost two fsyncs
(the file, the journal) instead of three. Unused names are empty files; recovery removes
every blob no journal record refers to, these included.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from pathlib import Path

from tierfs.writeback.durability import fsync_directory

BLOB_BATCH = 64


class BlobNames:
    def __init__(self, directory: Path):
        self._directory = directory
        # unique in this directory without asking the kernel for random bytes per file
        self._session = f"{os.getpid()}-{time.time_ns():x}"
        self._numbers = itertools.count()
        self._ready: list[str] = []
        self._lock = threading.Lock()

    def take(self) -> str:
        """The path of an empty blob file whose name is already durable."""
        with self._lock:
            if not self._ready:
                self._create_batch()
            return self._ready.pop()

    def remove_unused(self) -> None:
        """Delete the names never handed out (on close; recovery would remove them anyway)."""
        with self._lock:
            for path in self._ready:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            self._ready.clear()

    def _create_batch(self) -> None:
        batch = [
            str(self._directory / f"{self._session}-{next(self._numbers)}")
            for _ in range(BLOB_BATCH)
        ]
        for path in batch:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        fsync_directory(self._directory)
        self._ready.extend(reversed(batch))
