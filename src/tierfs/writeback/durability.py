"""fsync helpers for the write-back buffer: directory syncs and group commit of one descriptor.

Group commit lets concurrent writers share one fsync instead of queueing for one each; it does
not decide *what* is durable, only that every write made before ``sync()`` was called is.
"""

from __future__ import annotations

import os
import threading


def fsync_directory(path: str | os.PathLike) -> None:
    """Make the names in directory ``path`` (created, renamed, removed files) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class GroupSync:
    """fsync of one open descriptor, shared by the callers that arrive while one is running.

    A caller's writes happened before it called ``sync()``; it returns once an fsync that
    *started* after its call has finished. Callers arriving during a running fsync wait for
    it to end and then one of them starts the next, which covers them all.
    """

    def __init__(self, fd: int):
        self._fd = fd
        self._cond = threading.Condition()
        self._requested = 0
        self._completed = 0
        self._running = False
        self._retired = False

    def retire(self) -> None:
        """Stop syncing this descriptor (its file was replaced by a durable copy).

        Waits for a running fsync; afterwards ``sync()`` returns at once and the caller may
        close the descriptor.
        """
        with self._cond:
            while self._running:
                self._cond.wait()
            self._retired = True
            self._cond.notify_all()

    def sync(self) -> None:
        with self._cond:
            self._requested += 1
            ticket = self._requested
            while self._completed < ticket and not self._retired:
                if self._running:
                    self._cond.wait()
                    continue
                self._running = True
                covered = self._requested
                self._cond.release()
                try:
                    os.fsync(self._fd)
                finally:
                    self._cond.acquire()
                    self._running = False
                    self._cond.notify_all()
                self._completed = max(self._completed, covered)
