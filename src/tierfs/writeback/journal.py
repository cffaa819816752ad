"""The write-back journal: an append-only file of checksummed JSON records, one per line.

It holds the acknowledged operations not yet applied to the target and the ``done`` marks of
those applied; it is emptied when nothing is pending, and rewritten compactly on recovery
and whenever it has grown large under a queue that never empties.
It is not an index: the in-memory ``PendingOps`` is rebuilt from it and answers queries.
A record is ``<crc32 as 8 hex digits> <json>\\n``; a torn or damaged tail (a crash mid-append)
is cut off, while damage followed by valid records is corruption and raises.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import zlib
from pathlib import Path

from tierfs.writeback.durability import GroupSync, fsync_directory

logger = logging.getLogger(__name__)

JOURNAL_NAME = "journal"
MARKS = ("done", "start")  # records about an operation, not operations themselves


class JournalCorruptError(RuntimeError):
    """A record in the middle of the journal fails its checksum: the disk lost acknowledged data."""


def encode_record(record: dict) -> bytes:
    payload = json.dumps(record, separators=(",", ":")).encode()
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def _decode_line(line: bytes) -> dict | None:
    if len(line) < 10 or line[8:9] != b" ":
        return None
    payload = line[9:]
    try:
        if int(line[:8], 16) != zlib.crc32(payload):
            return None
        record = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    return record if _well_formed(record) else None


_FIELDS = {  # what the readers of each kind of record take from it
    "write": {"seq": int, "path": str, "blob": str, "size": int, "mtime": int | float},
    "rm": {"seq": int, "path": str},
    "mv": {"seq": int, "path": str, "dst": str},
    "done": {"seq": int},
    "start": {"seq": int, "at": int | float},
}


def _well_formed(record: object) -> bool:
    """Whether ``record`` has its kind's fields: a good checksum over another shape is
    damage too, which recovery must report, not trip over."""
    op = record.get("op") if isinstance(record, dict) else None
    fields = _FIELDS.get(op) if isinstance(op, str) else None
    if fields is None:
        return False
    if "replaces" in record:
        fields = fields | {"replaces": int}
    return all(isinstance(record.get(name), kind) and not isinstance(record.get(name), bool)
               for name, kind in fields.items())


def decode_records(data: bytes, source: str) -> tuple[list[dict], int]:
    """The valid records of ``data`` and the length of their prefix (the rest is a torn tail)."""
    records: list[dict] = []
    valid_length = 0
    bad_at: int | None = None
    offset = 0
    for line in data.splitlines(keepends=True):
        record = _decode_line(line[:-1]) if line.endswith(b"\n") else None
        if record is None:
            bad_at = offset if bad_at is None else bad_at
        elif bad_at is not None:
            raise JournalCorruptError(
                f"{source}: damaged record at byte {bad_at} is followed by valid ones; "
                "the disk under buffer_dir lost acknowledged data, inspect it before reusing it"
            )
        else:
            records.append(record)
            valid_length = offset + len(line)
        offset += len(line)
    return records, valid_length


def read_journal(directory: str | os.PathLike) -> list[dict]:
    """The records of ``directory``'s journal, read-only (for status while another process runs)."""
    path = Path(directory) / JOURNAL_NAME
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    return decode_records(data, str(path))[0]


def still_pending(records: list[dict]) -> list[dict]:
    """The operation records of ``records`` not done nor replaced, in journal order.

    A record may carry ``replaces``: the seq of an earlier write it made pointless, which
    counts as done. It travels in the replacing record itself, so a crash can never keep
    the mark and lose the write that justified it.
    """
    done = {record["seq"] for record in records if record["op"] == "done"}
    done.update(record["replaces"] for record in records if "replaces" in record)
    return [r for r in records if r["op"] not in MARKS and r["seq"] not in done]


def upload_starts(records: list[dict]) -> dict[int, float]:
    """When the upload of each operation last started (wall clock), from its ``start`` marks."""
    return {record["seq"]: record["at"] for record in records if record["op"] == "start"}


class Journal:
    """The open journal of a buffer directory; appends are serialised, fsyncs group-committed."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.path = self.directory / JOURNAL_NAME
        self._lock = threading.Lock()
        self._fd = -1
        self._group: GroupSync | None = None
        self.size = 0  # bytes in the file

    def open(self) -> list[dict]:
        """Open for appending; return the records found, after cutting off a torn tail."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = b""
        records, valid_length = decode_records(data, str(self.path))
        if valid_length < len(data):
            logger.warning(
                "%s: dropping a torn tail of %d bytes (an append interrupted by a crash; "
                "its write was never acknowledged)", self.path, len(data) - valid_length,
            )
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if valid_length < len(data):
            os.ftruncate(self._fd, valid_length)
            os.fsync(self._fd)
        fsync_directory(self.directory)
        self._group = GroupSync(self._fd)
        self.size = valid_length
        return records

    def append(self, record: dict) -> None:
        """Write one record (not yet durable: call ``sync``)."""
        data = encode_record(record)
        with self._lock:
            view = memoryview(data)
            try:
                while view:  # after a short write, the next call raises the reason (ENOSPC)
                    view = view[os.write(self._fd, view):]
            except OSError:
                os.ftruncate(self._fd, self.size)  # no torn record ahead of later ones
                raise
            self.size += len(data)

    def sync(self) -> None:
        """Return once every record appended before this call is on disk."""
        self._group.sync()

    def truncate(self) -> None:
        """Empty the journal: only when no operation is pending, so nothing is lost either way."""
        with self._lock:
            os.ftruncate(self._fd, 0)
            self.size = 0

    def rewrite(self, records: list[dict]) -> None:
        """Replace the journal by ``records`` atomically (write aside, fsync, rename, fsync dir).

        The caller keeps appends out meanwhile (the buffer holds its mutex). Threads still
        syncing the old file are let finish; later syncs of it return at once, since every
        record they wait for is in the new, already durable file.
        """
        data = b"".join(encode_record(record) for record in records)
        aside = self.path.with_name(JOURNAL_NAME + ".rewrite")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(aside, self.path)
        fsync_directory(self.directory)
        with self._lock:
            old_fd, old_group = self._fd, self._group
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            self._group = GroupSync(self._fd)
            self.size = len(data)
        old_group.retire()
        os.close(old_fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
