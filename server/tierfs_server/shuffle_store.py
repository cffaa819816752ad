"""The daemon's shuffle store: pushed blocks merged into one file per partition (Celeborn style).

Mappers push verified frames; each is appended, under the partition's lock, to
``<dir>/<shuffle>/p<partition>.data``, so a reducer reads one sequential stream.
Shuffle metadata and commit records (first commit wins) are the file shuffle's own
(``FileShuffleService`` over the same directory). A file torn by a crash mid-append is
cut back to its last whole block before it is appended to or read again; blocks keep
their map, attempt and sequence, so readers drop other attempts and repeated pushes.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass

from tierfs.private_paths import private_directory
from tierfs.shuffle import CommitRecord, ShuffleOptions
from tierfs.shuffle.errors import ShuffleError
from tierfs.shuffle.file_service import FileShuffle, FileShuffleService
from tierfs.shuffle.frames import HEADER_SIZE, FrameSplitter, frame_length, verify_frame
from tierfs.shuffle.storage import LocalStorage

logger = logging.getLogger(__name__)


class ShuffleCapacityError(ShuffleError):
    """The daemon's shuffle directory is at its capacity."""


@dataclass(frozen=True)
class ShuffleSettings:
    directory: str
    capacity: int | None = None
    retention: float | None = None  # seconds after a shuffle's last push or read


class ShuffleStore:
    def __init__(self, settings: ShuffleSettings):
        self.settings = settings
        self.files = FileShuffleService(LocalStorage(settings.directory), ShuffleOptions())
        private_directory(self.files.storage.root)
        self._lock = threading.Lock()
        self._partition_locks: dict[str, threading.Lock] = {}
        self._checked: set[str] = set()
        self._touched: dict[str, float] = {}
        self.counters: Counter[str] = Counter(dict.fromkeys(
            ("shuffle_pushed_bytes", "shuffle_pushed_blocks", "shuffle_served_bytes"), 0))
        self.used = self.files.storage.disk_usage(self.files.storage.root)

    # -- control plane --

    def create(self, shuffle_id: str, num_partitions: int) -> FileShuffle:
        shuffle = self.files.create(shuffle_id, num_partitions)
        self._touch(shuffle_id)
        return shuffle

    def get(self, shuffle_id: str) -> FileShuffle:
        return self.files.get(shuffle_id)

    def commit(self, shuffle_id: str, payload: bytes) -> tuple[CommitRecord, bool]:
        """Record a map's commit unless another attempt won; the winner and whether it is this."""
        shuffle = self.get(shuffle_id)
        record = CommitRecord.from_json(payload, "commit request", shuffle.num_partitions)
        if record.shuffle_id != shuffle_id or record.offsets is not None:
            raise ValueError("commit: the record must name this shuffle and carry no offsets")
        marker = shuffle.path("commits", f"{record.map_id}.json")
        if self.files.storage.create_exclusive(marker, record.to_json()):
            self._touch(shuffle_id)
            return record, True
        winner = self.files.storage.read_file(marker)
        return CommitRecord.from_json(winner, marker, shuffle.num_partitions), False

    def delete(self, shuffle_id: str) -> None:
        shuffle = self.get(shuffle_id)
        with self._lock:
            freed = self.files.storage.disk_usage(shuffle.path())
            shuffle.delete()
            self.used -= freed
            self._touched.pop(shuffle_id, None)
            self._checked = {p for p in self._checked if not p.startswith(shuffle.path() + "/")}

    def expire(self) -> list[str]:
        """Delete shuffles idle for longer than the retention; their ids."""
        retention = self.settings.retention
        if retention is None:
            return []
        expired = []
        now = time.time()
        for shuffle in list(self.files.shuffles()):
            last = self._touched.get(shuffle.shuffle_id) or os.path.getmtime(shuffle.path())
            if now - last > retention:
                self.delete(shuffle.shuffle_id)
                expired.append(shuffle.shuffle_id)
        if expired:
            logger.warning("shuffle retention: deleted %d idle shuffle(s)", len(expired))
        return expired

    def _touch(self, shuffle_id: str) -> None:
        self._touched[shuffle_id] = time.time()

    # -- data plane --

    def push(self, shuffle_id: str, body: bytes) -> int:
        """Verify every frame of ``body`` and append it to its partition's file; frames taken."""
        shuffle = self.get(shuffle_id)
        where = f"a push to shuffle {shuffle_id!r}"
        splitter = FrameSplitter(where)
        by_partition: dict[int, list[memoryview]] = {}
        for frame in splitter.feed(body):
            header = verify_frame(frame, where)
            shuffle.check_partition(header.id.partition)
            by_partition.setdefault(header.id.partition, []).append(frame)
        splitter.finish()
        size = len(body)
        with self._lock:
            capacity = self.settings.capacity
            if capacity is not None and self.used + size > capacity:
                raise ShuffleCapacityError(f"shuffle capacity {capacity} bytes of the daemon is "
                                           f"full ({self.used} used)")
            self.used += size
        for partition, frames in sorted(by_partition.items()):
            path = self.partition_path(shuffle, partition)
            with self._partition_lock(path):
                self._cut_torn_tail(path)
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    _write_all(fd, frames)
                finally:
                    os.close(fd)
        self._touch(shuffle_id)
        blocks = sum(map(len, by_partition.values()))
        with self._lock:
            self.counters["shuffle_pushed_bytes"] += size
            self.counters["shuffle_pushed_blocks"] += blocks
        return blocks

    def partition_file(self, shuffle_id: str, partition: int) -> tuple[str, int]:
        """The partition's file and its length now (at a block boundary), for a reader."""
        shuffle = self.get(shuffle_id)
        path = self.partition_path(shuffle, shuffle.check_partition(partition))
        with self._partition_lock(path):
            self._cut_torn_tail(path)
            size = os.path.getsize(path) if os.path.exists(path) else 0
        self._touch(shuffle_id)
        return path, size

    def served(self, length: int) -> None:
        with self._lock:
            self.counters["shuffle_served_bytes"] += length

    @staticmethod
    def partition_path(shuffle: FileShuffle, partition: int) -> str:
        return shuffle.path(f"p{partition}.data")

    def _partition_lock(self, path: str) -> threading.Lock:
        with self._lock:
            return self._partition_locks.setdefault(path, threading.Lock())

    def _cut_torn_tail(self, path: str) -> None:
        """Once per file and daemon run: drop a block half-written when a daemon died."""
        if path in self._checked:
            return
        self._checked.add(path)
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return
        try:
            size, offset = os.fstat(fd).st_size, 0
            while offset + HEADER_SIZE <= size:
                length = frame_length(os.pread(fd, HEADER_SIZE, offset), path)
                if offset + length > size:
                    break
                offset += length
            if offset != size:
                logger.warning("shuffle file %s: cut a torn block (%d bytes) left by a crash",
                               os.path.basename(path), size - offset)
                os.ftruncate(fd, offset)
        finally:
            os.close(fd)

    def stats(self) -> dict:
        with self._lock:
            counters = dict(self.counters)
        shuffles = len(self.files.storage.listdir(self.files.storage.root))
        return {"shuffles": shuffles, "used_bytes": self.used,
                "capacity_bytes": self.settings.capacity, **counters}


def _write_all(fd: int, frames: list[memoryview]) -> None:
    """One ``writev`` for the usual case; a short write continues where it stopped."""
    pending = [memoryview(frame) for frame in frames]
    while pending:
        written = os.writev(fd, pending[:1024])
        while written and pending:
            if written >= len(pending[0]):
                written -= len(pending.pop(0))
            else:
                pending[0] = pending[0][written:]
                written = 0
