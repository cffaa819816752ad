"""What a forked child sees of its parent's write-back buffer: the parent's journal, re-read.

The child inherits a snapshot of the pending operations that goes stale as the parent
uploads, and locks a parent thread may have held at the fork. The journal on disk holds the
current operations, so the child rebuilds its read overlay from it; it never writes, locks
or deletes anything in the parent's ``buffer_dir``.
"""

from __future__ import annotations

from pathlib import Path

from tierfs.writeback.journal import (
    JOURNAL_NAME,
    JournalCorruptError,
    decode_records,
    still_pending,
)
from tierfs.writeback.pending import Op, PendingOps

# the parent may truncate the journal while the child reads it: a mixed read looks damaged
_READ_ATTEMPTS = 3


class ParentJournalView:
    """The parent's pending operations, rebuilt from its journal at each ``current()``."""

    def __init__(self, directory: Path, blob_dir: Path):
        self._path = directory / JOURNAL_NAME
        self._blob_dir = str(blob_dir)

    def current(self) -> PendingOps:
        pending = PendingOps()
        for record in still_pending(self._records()):
            pending.add(Op.from_record(record, self._blob_dir))
        return pending

    def _records(self) -> list[dict]:
        for _ in range(_READ_ATTEMPTS - 1):
            try:
                return self._read()
            except JournalCorruptError:
                continue
        return self._read()

    def _read(self) -> list[dict]:
        try:
            data = self._path.read_bytes()
        except FileNotFoundError:
            return []
        return decode_records(data, str(self._path))[0]
