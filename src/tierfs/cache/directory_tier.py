"""The ``ssd`` and ``disk`` tiers: one checksummed file per block plus a SQLite index.

Several processes (DataLoader workers, executors) may open the same directory. The
index is the shared truth: a block file is visible under its final name only while
its row exists, and both change together inside one ``BEGIN IMMEDIATE`` transaction,
so capacity is never exceeded by the accounting and no reader sees a torn file
(files are written under a staging name and renamed). Victims are renamed into the
staging area in the same transaction, then read for demotion and unlinked.

Lock order: ``self._lock`` (this process's connection) is taken first, then SQLite's
database lock (via BEGIN IMMEDIATE). Nothing else is acquired while they are held.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path

from tierfs.cache.block_format import BlockHeader, CorruptBlock, chunk_size_for, encode_header
from tierfs.cache.block_key import is_block_key
from tierfs.cache.config import TierSpec
from tierfs.cache.eviction import order_by
from tierfs.cache.tier import PutOutcome, PutResult, Victim

logger = logging.getLogger(__name__)

_HEADER_READ = 4096  # block_format keeps every header within one page
_ACCESS_FLUSH_COUNT = 256
_ACCESS_FLUSH_SECONDS = 2.0
_VICTIM_BATCH = 16
_OPEN_HANDLES = 32  # descriptors (with parsed headers) kept open for repeated hits

_SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    key TEXT PRIMARY KEY, size INTEGER NOT NULL,
    last_access REAL NOT NULL, inserted REAL NOT NULL, hits INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS usage (id INTEGER PRIMARY KEY CHECK (id = 0), used INTEGER NOT NULL);
INSERT OR IGNORE INTO usage (id, used) VALUES (0, 0);
"""


class DirectoryTier:
    def __init__(self, spec: TierSpec):
        self.spec = spec
        self.root = Path(spec.path)
        self._blocks = self.root / "blocks"
        self._staging = self.root / "staging"
        self._blocks.mkdir(parents=True, exist_ok=True)
        self._staging.mkdir(parents=True, exist_ok=True)
        self._order = order_by(spec.eviction)
        self.corrupt_blocks = 0
        self._open_process_state()
        self._remove_leftovers()

    # -- process-local state (rebuilt after fork: a SQLite connection must not cross it) --

    def _open_process_state(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._pending_access: dict[str, int] = {}
        self._handles: OrderedDict[str, tuple[int, BlockHeader]] = OrderedDict()
        self._last_flush = time.time()
        self._conn = sqlite3.connect(
            self.root / "index.sqlite3", timeout=60, isolation_level=None,
            check_same_thread=False,
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        if self._pid != os.getpid():
            self._open_process_state()  # inherited descriptors are left to the parent
        return self._conn

    # -- reads --

    def _path(self, key: str) -> Path:
        if not is_block_key(key):
            raise ValueError(f"not a block key: {key!r}")
        return self._blocks / key[:2] / key

    def _open_block(self, key: str) -> tuple[int, BlockHeader] | None:
        """An open descriptor and verified header for ``key``, from the handle cache if live.

        The bytes behind a key never change (keys carry the object version), so a live
        handle is as good as a fresh open. A handle whose file was unlinked is dropped when
        next touched, and this process closes handles of what it evicts itself, so at most
        ``_OPEN_HANDLES`` blocks evicted by *other* processes stay pinned on disk a while.
        """
        with self._lock:
            self._connection()  # rebuilds process state (and the handle cache) after fork
            handle = self._handles.get(key)
            if handle is not None:
                self._handles.move_to_end(key)
        if handle is not None:
            try:
                if os.fstat(handle[0]).st_nlink > 0:
                    return handle
            except OSError:
                pass
            self._forget_handle(key)
        try:
            fd = os.open(self._path(key), os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            header = BlockHeader(os.pread(fd, _HEADER_READ, 0))
        except CorruptBlock as error:
            os.close(fd)
            self._drop_corrupt(key, error)
            return None
        with self._lock:
            old = self._handles.pop(key, None)
            self._handles[key] = (fd, header)
            while len(self._handles) > _OPEN_HANDLES:
                _, (stale_fd, _) = self._handles.popitem(last=False)
                os.close(stale_fd)
        if old is not None:
            os.close(old[0])
        return fd, header

    def _forget_handle(self, key: str) -> None:
        with self._lock:
            self._close_handle_locked(key)

    def _close_handle_locked(self, key: str) -> None:
        handle = self._handles.pop(key, None)
        if handle is not None:
            os.close(handle[0])

    def _drop_corrupt(self, key: str, error: CorruptBlock) -> None:
        logger.warning("dropping corrupt cached block %s in %s: %s", key, self.root, error)
        self.corrupt_blocks += 1
        self.remove(key)

    def block_length(self, key: str) -> int | None:
        opened = self._open_block(key)
        return None if opened is None else opened[1].data_length

    def read_into(self, key: str, start: int, end: int, dest: memoryview) -> bool:
        """Verified bytes ``[start, end)`` of the block into ``dest``; False if absent/corrupt.

        The middle of the range is read straight into ``dest``; only the edges of the
        first and last checksum chunk go through scratch buffers. If verification fails,
        ``dest`` holds garbage and the caller must not use it (it gets False).
        """
        opened = self._open_block(key)
        if opened is None:
            return False
        fd, header = opened
        try:
            if not 0 <= start <= end <= header.data_length or len(dest) != end - start:
                raise CorruptBlock("requested range outside the block")
            lo, hi = header.chunk_span(start, end)
            segments = [memoryview(bytearray(start - lo)), dest, memoryview(bytearray(hi - end))]
            if os.preadv(fd, segments, header.data_offset + lo) != hi - lo:
                raise CorruptBlock("truncated data")
            header.verify_segments(segments, lo)
        except CorruptBlock as error:
            self._forget_handle(key)
            self._drop_corrupt(key, error)
            return False
        self._record_access(key)
        return True

    def get(self, key: str, start: int, end: int | None) -> memoryview | None:
        """Verified bytes ``[start, end)`` (``end=None``: to the end of the block)."""
        opened = self._open_block(key)
        if opened is None:
            return None
        fd, header = opened
        try:
            end = header.data_length if end is None else end
            if not 0 <= start <= end <= header.data_length:
                raise CorruptBlock("requested range outside the block")
            lo, hi = header.chunk_span(start, end)
            raw = os.pread(fd, hi - lo, header.data_offset + lo)  # bytes: no zero-filling
            if len(raw) != hi - lo:
                raise CorruptBlock("truncated data")
            header.verify(raw, lo)
        except CorruptBlock as error:
            self._forget_handle(key)
            self._drop_corrupt(key, error)
            return None
        self._record_access(key)
        return memoryview(raw)[start - lo:end - lo]

    def get_block(self, key: str) -> bytes | None:
        view = self.get(key, 0, None)
        return None if view is None else view.obj

    def contains(self, key: str) -> bool:
        return self._path(key).exists()

    def _record_access(self, key: str) -> None:
        with self._lock:
            self._pending_access[key] = self._pending_access.get(key, 0) + 1
            due = (
                len(self._pending_access) >= _ACCESS_FLUSH_COUNT
                or time.time() - self._last_flush > _ACCESS_FLUSH_SECONDS
            )
            if due:
                conn = self._connection()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    self._flush_access(conn)
                finally:
                    conn.execute("COMMIT")

    def _flush_access(self, conn: sqlite3.Connection) -> None:
        """Write batched hits; caller holds ``self._lock`` and an open transaction."""
        now = time.time()
        conn.executemany(
            "UPDATE blocks SET last_access = ?, hits = hits + ? WHERE key = ?",
            [(now, hits, key) for key, hits in self._pending_access.items()],
        )
        self._pending_access.clear()
        self._last_flush = now

    # -- writes --

    def put(self, key: str, data: bytes) -> PutOutcome:
        final = self._path(key)
        header = encode_header(data, chunk_size_for(len(data)))
        size = len(header) + len(data)
        if size > self.spec.capacity:
            return PutOutcome(PutResult.TOO_LARGE)
        staged = self._staging_name("w")
        self._write_file(staged, header, data)
        victims: list[Victim] = []
        try:
            with self._lock:
                conn = self._connection()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    self._flush_access(conn)
                    if conn.execute("SELECT 1 FROM blocks WHERE key = ?", (key,)).fetchone():
                        conn.execute("ROLLBACK")
                        return PutOutcome(PutResult.ALREADY_PRESENT)
                    used = conn.execute("SELECT used FROM usage").fetchone()[0]
                    while used + size > self.spec.capacity:
                        used -= self._evict_batch(conn, used + size - self.spec.capacity, victims)
                    now = time.time()
                    conn.execute(
                        "INSERT INTO blocks (key, size, last_access, inserted) VALUES (?, ?, ?, ?)",
                        (key, size, now, now),
                    )
                    conn.execute("UPDATE usage SET used = ?", (used + size,))
                    final.parent.mkdir(exist_ok=True)
                    os.rename(staged, final)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
        finally:
            staged.unlink(missing_ok=True)
        return PutOutcome(PutResult.STORED, victims)

    def _evict_batch(self, conn: sqlite3.Connection, needed: int, victims: list[Victim]) -> int:
        """Remove coldest rows until ``needed`` bytes are freed; return the bytes freed."""
        rows = conn.execute(
            f"SELECT key, size FROM blocks ORDER BY {self._order} LIMIT ?", (_VICTIM_BATCH,)
        ).fetchall()
        if not rows:
            raise RuntimeError(f"{self.root}: usage is above capacity but the index is empty")
        freed = 0
        for key, size in rows:
            if freed >= needed:
                break
            conn.execute("DELETE FROM blocks WHERE key = ?", (key,))
            self._close_handle_locked(key)
            staged = self._staging_name("v")
            try:
                os.rename(self._path(key), staged)
                victims.append(self._victim(key, staged))
            except FileNotFoundError:
                pass  # a row whose file was lost in a crash: nothing to move
            freed += size
        return freed

    def _victim(self, key: str, staged: Path) -> Victim:
        def read() -> bytes | None:
            try:
                with open(staged, "rb") as file:
                    raw = file.read()
                header = BlockHeader(raw[:_HEADER_READ])
                data = memoryview(raw)[header.data_offset:header.data_offset + header.data_length]
                if len(data) != header.data_length:
                    raise CorruptBlock("truncated data")
                header.verify(data, 0)
                return bytes(data)
            except (CorruptBlock, OSError):
                return None

        return Victim(key, read=read, release=lambda: staged.unlink(missing_ok=True))

    def _staging_name(self, kind: str) -> Path:
        return self._staging / f"{kind}-{os.getpid()}-{uuid.uuid4().hex}"

    @staticmethod
    def _write_file(path: Path, header: bytes, data: bytes) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            for part in (header, data):
                view = memoryview(part)
                while view:
                    view = view[os.write(fd, view):]
        finally:
            os.close(fd)

    def remove(self, key: str) -> bool:
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute("SELECT size FROM blocks WHERE key = ?", (key,)).fetchone()
                if row:
                    conn.execute("DELETE FROM blocks WHERE key = ?", (key,))
                    conn.execute("UPDATE usage SET used = used - ?", (row[0],))
                self._close_handle_locked(key)
                self._path(key).unlink(missing_ok=True)
            finally:
                conn.execute("COMMIT")
        return row is not None

    # -- housekeeping --

    def usage(self) -> tuple[int, int]:
        with self._lock:
            conn = self._connection()
            used = conn.execute("SELECT used FROM usage").fetchone()[0]
            blocks = conn.execute("SELECT COUNT(*) FROM blocks").fetchone()[0]
        return used, blocks

    def clear(self) -> None:
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                keys = [row[0] for row in conn.execute("SELECT key FROM blocks")]
                conn.execute("DELETE FROM blocks")
                conn.execute("UPDATE usage SET used = 0")
                self._pending_access.clear()
                for key in list(self._handles):
                    self._close_handle_locked(key)
                for key in keys:
                    self._path(key).unlink(missing_ok=True)
            finally:
                conn.execute("COMMIT")

    def _remove_leftovers(self) -> None:
        """Delete what crashed processes left: staging files of dead pids, unindexed blocks."""
        for staged in self._staging.iterdir():
            pid = staged.name.split("-")[1] if staged.name.count("-") >= 2 else ""
            if pid.isdigit() and not _process_alive(int(pid)):
                staged.unlink(missing_ok=True)
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                indexed = {row[0] for row in conn.execute("SELECT key FROM blocks")}
                for shard in self._blocks.iterdir():
                    for block in shard.iterdir():
                        if block.name not in indexed:
                            block.unlink(missing_ok=True)
            finally:
                conn.execute("COMMIT")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
