"""The byte budget of a buffer directory, shared by open writers and files awaiting upload.

Bytes are *open* while a writer is still writing them and *committed* once acknowledged; a
committed file's bytes come back when its upload is done. Outcomes are values: a writer that
asks for room gets ``GRANTED``, ``FULL`` (decide by ``when_full``) or ``STUCK`` (waiting could
never succeed: only open files hold the buffer and every writer is waiting).
Not thread-safe alone: every method runs under the buffer's condition, which it waits on.
"""

from __future__ import annotations

import enum
import threading


class Room(enum.Enum):
    GRANTED = "granted"
    FULL = "full"
    STUCK = "stuck"


class Capacity:
    def __init__(self, limit: int | None, cond: threading.Condition, committed: int = 0):
        self.limit = limit
        self._cond = cond
        self.open_bytes = 0
        self.committed_bytes = committed
        self._writers = 0
        self._waiting = 0

    @property
    def used(self) -> int:
        return self.open_bytes + self.committed_bytes

    def writer_opened(self) -> None:
        self._writers += 1

    def writer_closed(self, open_bytes: int, committed: bool) -> None:
        """A writer ends: its bytes become committed (acknowledged) or are given back."""
        self._writers -= 1
        self.open_bytes -= open_bytes
        if committed:
            self.committed_bytes += open_bytes
        self._cond.notify_all()

    def try_reserve(self, size: int) -> Room:
        if self.limit is not None and self.used + size > self.limit:
            return Room.FULL
        self.open_bytes += size
        return Room.GRANTED

    def wait_reserve(self, size: int, stopped) -> Room:
        """Wait until ``size`` bytes fit, or until waiting cannot help (``STUCK``)."""
        self._waiting += 1
        try:
            while self.try_reserve(size) is Room.FULL:
                if stopped() or (self.committed_bytes == 0 and self._waiting == self._writers):
                    self._cond.notify_all()
                    return Room.STUCK
                self._cond.wait()
            return Room.GRANTED
        finally:
            self._waiting -= 1

    def free(self, size: int) -> None:
        """An uploaded (or superseded) file's bytes leave the buffer."""
        self.committed_bytes -= size
        self._cond.notify_all()
