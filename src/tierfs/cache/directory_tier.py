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

import contextlib
import itertools
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from tierfs.cache.block_file_tier import BlockFileTier
from tierfs.cache.block_files import SHARDS, read_block_file
from tierfs.cache.block_format import CorruptBlock, chunk_size_for, encode_header
from tierfs.cache.block_key import is_block_key
from tierfs.cache.config import TierSpec
from tierfs.cache.direct_write import DirectWriter
from tierfs.cache.eviction import order_by
from tierfs.cache.fetch_activity import FetchActivity
from tierfs.cache.tier import PutOutcome, PutResult, Victim
from tierfs.cache.tuning import TUNING, Tuning
from tierfs.private_paths import DIRECTORY_MODE, FILE_MODE, private_directory

logger = logging.getLogger(__name__)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    key TEXT PRIMARY KEY, size INTEGER NOT NULL,
    last_access REAL NOT NULL, inserted REAL NOT NULL, hits INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS usage (id INTEGER PRIMARY KEY CHECK (id = 0), used INTEGER NOT NULL);
INSERT OR IGNORE INTO usage (id, used) VALUES (0, 0);
"""


_INDEX = "index.sqlite3"
_LOCK_SECONDS = 60  # how long a process waits for another's lock on the index


def _set_up_index(conn: sqlite3.Connection) -> None:
    """WAL mode and the schema, idempotent. Processes opening a new directory at once (a
    DataLoader's workers) race to switch it to WAL, and SQLite answers the losers "database
    is locked" without waiting, so this retries for as long as a lock is waited for."""
    deadline = time.monotonic() + _LOCK_SECONDS
    delay = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(2 * delay, 0.1)


class DirectoryTier(BlockFileTier):
    """The block-file tier of a directory this process owns (with others sharing it):
    reads as ``BlockFileTier``, plus the shared index, writes and eviction."""

    accepts_blocks = True

    def __init__(self, spec: TierSpec, activity: FetchActivity, tuning: Tuning = TUNING):
        """Block files are written around the page cache while ``activity`` is busy
        (see ``direct_write``)."""
        self.activity = activity
        self.root = Path(spec.path)
        self._blocks = self.root / "blocks"
        self._staging = self.root / "staging"
        private_directory(self.root)
        private_directory(self._blocks)
        private_directory(self._staging)
        _make_missing_shards(self._blocks)
        self._order = order_by(spec.eviction)
        super().__init__(spec, self._blocks, self._record_access, tuning=tuning)
        self._writer = DirectWriter(tuning.direct_write_buffers)
        self._flush_count = tuning.access_flush_count
        self._flush_seconds = tuning.access_flush_seconds
        self._victim_batch = tuning.victim_batch
        self._open_process_state()
        self._remove_leftovers()

    # -- process-local state (rebuilt after fork: a SQLite connection must not cross it) --

    def _open_process_state(self) -> None:
        self._pid = os.getpid()
        self._token = uuid.uuid4().hex[:12]
        self._sequence = itertools.count()
        self._lock = threading.Lock()
        self._pending_access: dict[str, int] = {}
        self._last_flush = time.monotonic()
        self._conn = sqlite3.connect(
            self.root / _INDEX, timeout=_LOCK_SECONDS, isolation_level=None,
            check_same_thread=False,
        )
        _set_up_index(self._conn)
        for suffix in ("", "-wal", "-shm"):  # made by SQLite as it likes: made private after
            with contextlib.suppress(FileNotFoundError):
                os.chmod(self.root / (_INDEX + suffix), FILE_MODE)

    def _check_process(self) -> None:
        if self._pid != os.getpid():
            self._open_process_state()

    def _connection(self) -> sqlite3.Connection:
        self._check_process()
        return self._conn

    # -- reads --

    def on_corrupt(self, key: str, error: CorruptBlock) -> None:
        """A block failed its checks: counted, and dropped from this directory."""
        logger.warning("dropping corrupt cached block %s in %s: %s", key, self.root, error)
        self.corrupt_blocks += 1
        self.remove(key)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction on the shared index; the caller holds ``self._lock``."""
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def touch(self, key: str) -> None:
        """Count a hit that happened elsewhere (a client reading this directory directly)."""
        if is_block_key(key):
            self._record_access(key)

    def _record_access(self, key: str, hits: int = 1) -> None:
        # lock-free on purpose (every hit passes here): a hit racing another hit of the same
        # key, or a flush, may go uncounted; access counts only order eviction
        pending = self._pending_access
        pending[key] = pending.get(key, 0) + hits
        if (len(pending) >= self._flush_count
                or time.monotonic() - self._last_flush > self._flush_seconds):
            with self._lock, self._transaction() as conn:
                self._flush_access(conn)

    def flush(self) -> None:
        """Write this process's batched access times now (at shutdown, say)."""
        with self._lock, self._transaction() as conn:
            self._flush_access(conn)

    def _flush_access(self, conn: sqlite3.Connection) -> None:
        """Write batched hits; caller holds ``self._lock`` and an open transaction."""
        pending, self._pending_access = self._pending_access, {}
        self._last_flush = time.monotonic()
        now = time.time()
        conn.executemany(
            "UPDATE blocks SET last_access = ?, hits = hits + ? WHERE key = ?",
            [(now, hits, key) for key, hits in list(pending.items())],
        )

    # -- writes --

    def put(self, key: str, data: bytes) -> PutOutcome:
        final = self.files.path(key)
        header = encode_header(data, chunk_size_for(len(data)))
        size = len(header) + len(data)
        if size > self.spec.capacity:
            return PutOutcome(PutResult.TOO_LARGE)
        staged = self._staging_name("w")
        victims: list[Victim] = []
        published = False
        try:  # a failed write (a full disk) leaves no staged file behind either
            self._writer.write_new(os.fspath(staged), (header, data),
                                    direct=self.activity.writes_skip_page_cache())
            with self._lock, self._transaction() as conn:
                self._flush_access(conn)
                if conn.execute("SELECT 1 FROM blocks WHERE key = ?", (key,)).fetchone():
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
                _rename_into_shard(staged, final)
                published = True
        finally:
            if not published:
                staged.unlink(missing_ok=True)
        return PutOutcome(PutResult.STORED, victims)

    def _evict_batch(self, conn: sqlite3.Connection, needed: int, victims: list[Victim]) -> int:
        """Remove coldest rows until ``needed`` bytes are freed; return the bytes freed."""
        rows = conn.execute(
            f"SELECT key, size FROM blocks ORDER BY {self._order} LIMIT ?", (self._victim_batch,)
        ).fetchall()
        if not rows:
            raise RuntimeError(f"{self.root}: usage is above capacity but the index is empty")
        freed = 0
        for key, size in rows:
            if freed >= needed:
                break
            conn.execute("DELETE FROM blocks WHERE key = ?", (key,))
            self.files.forget(key)
            staged = self._staging_name("v")
            try:
                os.rename(self.files.path(key), staged)
                victims.append(Victim(key, read=partial(read_block_file, staged),
                                      release=partial(staged.unlink, missing_ok=True)))
            except FileNotFoundError:
                pass  # a row whose file was lost in a crash: nothing to move
            freed += size
        return freed

    def _staging_name(self, kind: str) -> Path:
        """A name no other writer uses: the pid (see ``_remove_leftovers``), a token
        against pid reuse and a counter. No syscall: on a busy reader every one is a
        chance to lose the GIL for a while."""
        self._check_process()  # a forked child must not count on from its parent's names
        return self._staging / f"{kind}-{self._pid}-{self._token}{next(self._sequence)}"

    def remove(self, key: str) -> bool:
        with self._lock, self._transaction() as conn:
            row = conn.execute("SELECT size FROM blocks WHERE key = ?", (key,)).fetchone()
            if row:
                conn.execute("DELETE FROM blocks WHERE key = ?", (key,))
                conn.execute("UPDATE usage SET used = used - ?", (row[0],))
            self.files.forget(key)
            self.files.path(key).unlink(missing_ok=True)
        return row is not None

    # -- housekeeping --

    def usage(self) -> tuple[int, int]:
        with self._lock:
            conn = self._connection()
            used = conn.execute("SELECT used FROM usage").fetchone()[0]
            blocks = conn.execute("SELECT COUNT(*) FROM blocks").fetchone()[0]
        return used, blocks

    def clear(self) -> None:
        with self._lock, self._transaction() as conn:
            keys = [row[0] for row in conn.execute("SELECT key FROM blocks")]
            conn.execute("DELETE FROM blocks")
            conn.execute("UPDATE usage SET used = 0")
            self._pending_access.clear()
            self.files.forget_all()
            for key in keys:
                self.files.path(key).unlink(missing_ok=True)

    def _remove_leftovers(self) -> None:
        """Delete what crashed processes left: staging files of dead pids, unindexed blocks."""
        for staged in self._staging.iterdir():
            pid = staged.name.split("-")[1] if staged.name.count("-") >= 2 else ""
            if pid.isdigit() and not _process_alive(int(pid)):
                staged.unlink(missing_ok=True)
        with self._lock, self._transaction() as conn:
            indexed = {row[0] for row in conn.execute("SELECT key FROM blocks")}
            for shard in self._blocks.iterdir():
                for block in shard.iterdir():
                    if block.name not in indexed:
                        block.unlink(missing_ok=True)


def _make_missing_shards(blocks: Path) -> None:
    """Every shard directory, made once in a tier directory's life, when it is opened: a
    new directory's first reads would otherwise pay a ``mkdir`` per block or nearly,
    each one a new inode placed by ext4's search for a roomy group (docs/performance.md)."""
    present = set(os.listdir(blocks))
    for shard in SHARDS:
        if shard not in present:
            with contextlib.suppress(FileExistsError):  # another process opening it too
                os.mkdir(blocks / shard, DIRECTORY_MODE)


def _rename_into_shard(staged: Path, final: Path) -> None:
    """Move a staged file to its final name, making its shard directory again if someone
    removed it."""
    try:
        os.rename(staged, final)
    except FileNotFoundError:
        final.parent.mkdir(mode=DIRECTORY_MODE, exist_ok=True)
        os.rename(staged, final)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
