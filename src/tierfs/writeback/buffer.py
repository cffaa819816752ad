"""``WriteBackBuffer``: writes acknowledged on local disk, uploaded in the background, never lost.

It composes the pieces of this package: the directory lock, the journal, the pending
operations with their read overlay, the byte budget and the uploader. It is not an fsspec
filesystem: ``tierfs.write_modes`` wraps it and lays its overlay over the target's answers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from fsspec import AbstractFileSystem

from tierfs.private_paths import private_directory
from tierfs.writeback.blobs import BlobNames
from tierfs.writeback.capacity import Capacity, Room
from tierfs.writeback.fork_view import ParentJournalView
from tierfs.writeback.journal import Journal, still_pending, upload_starts
from tierfs.writeback.lock import BufferLock
from tierfs.writeback.overlay import DELETED, BufferedFile, OverlayEntry
from tierfs.writeback.pending import Op, PendingOps
from tierfs.writeback.settings import DEFAULTS, WriteBackSettings
from tierfs.writeback.target import lands_late, record_target
from tierfs.writeback.uploader import Uploader, creating_parent
from tierfs.writeback.writer import BufferWriter

logger = logging.getLogger(__name__)

BLOBS = "blobs"
# a queue that never empties never truncates the journal: rewrite it without its applied
# operations past this size (the rewrite's fsync runs under the mutex, so keep it rare)
COMPACT_JOURNAL_BYTES = 64 * 2**20


class WriteBackBuffer:
    """A journaled write-back buffer in ``buffer_dir`` in front of ``target_fs``.

    Acknowledgement: ``close()`` of a writer returns after the file's bytes are fsynced (its
    name was made durable in advance, see ``BlobNames``) and its journal record is fsynced.
    Only then may the uploader apply it, so an unacknowledged write never reaches the target.

    Lock order: ``self._mutex`` (pending ops, byte budget, sequence numbers, uploader
    counters) before ``Journal._lock`` (one append). Two conditions share the mutex:
    ``_work`` wakes one upload worker when an operation may have become runnable, and
    ``_changed`` wakes everyone waiting for room, for a path to be idle, or for a flush.
    No fsync runs under ``self._mutex`` (but the rare journal compaction):
    a record is appended and its op added to ``PendingOps`` in one critical section — so
    journal order, sequence order and apply order agree — and synced after it, so concurrent
    writers and uploaders share fsyncs (group commit).
    """

    def __init__(
        self,
        buffer_dir: str | os.PathLike,
        capacity: int | str | None,
        target_fs: AbstractFileSystem,
        *,
        when_full: str = DEFAULTS["when_full"],
        on_uploaded: Callable[[str, str | None], None] | None = None,
        upload_workers: int = DEFAULTS["upload_workers"],
        retry_initial: float = DEFAULTS["retry_initial"],
        retry_max: float = DEFAULTS["retry_max"],
        recovery_settle: float = DEFAULTS["recovery_settle"],
    ):
        self.settings = WriteBackSettings.validated(
            capacity, when_full, upload_workers, retry_initial, retry_max, recovery_settle
        )
        if not isinstance(target_fs, AbstractFileSystem):
            raise ValueError(f"target_fs: expected an fsspec filesystem, got {type(target_fs)!r}")
        self.directory = _prepare_directory(buffer_dir)
        self.target_fs = target_fs
        self._blob_dir = self.directory / BLOBS
        private_directory(self._blob_dir)
        self._lock = BufferLock(self.directory)
        previous_holder_died = self._lock.acquire()
        self._closed = False
        self._pid = os.getpid()
        self._parent_view = ParentJournalView(self.directory, self._blob_dir)
        self._mutex = threading.Lock()
        self._work = threading.Condition(self._mutex)
        self._changed = threading.Condition(self._mutex)
        self._pending = PendingOps()
        self._journal = Journal(self.directory)
        self._marks_starts = lands_late(target_fs)
        try:
            record_target(self.directory, target_fs)
            committed = self._recover(self._journal.open(), previous_holder_died)
        except BaseException:
            self._journal.close()
            self._lock.release()
            raise
        self._blob_names = BlobNames(self._blob_dir)
        self._compact_at = COMPACT_JOURNAL_BYTES
        self._replaced = 0  # writes never uploaded because a later write or delete replaced them
        self._capacity = Capacity(self.settings.capacity, self._changed, committed)
        self._uploader = Uploader(
            self._work, self._pending, target_fs, self.settings, self._finished, on_uploaded,
            on_start=self._starting,
        )
        self._uploader.start()

    # -- writing -------------------------------------------------------------------------

    def open_write(self, path: str) -> BufferWriter:
        """A new file at target ``path``; its ``close()`` is the durable acknowledgement."""
        path = self._normalize(path)
        self._check_process()  # before the mutex: a parent thread may have held it at the fork
        with self._mutex:
            self._check_open()
            self._capacity.writer_opened()
        try:
            return BufferWriter(self, path, self._blob_names.take())
        except BaseException:
            self._release(0)
            raise

    def pipe(self, path: str, data: bytes) -> None:
        """Write ``data`` to ``path``; returns once acknowledged (durable in buffer_dir)."""
        with self.open_write(path) as file:
            file.write(data)

    def rm(self, path: str) -> None:
        """Remove one file (journaled; applied after earlier operations on ``path``).
        FileNotFoundError only if the buffer knows the path is gone; whether the target
        has it is the caller's question (``tierfs.write_modes`` asks its ``info``)."""
        self._journaled("rm", self._normalize(path))

    def mv(self, src: str, dst: str) -> None:
        """Rename one file (journaled; applied after earlier operations on both paths)."""
        src, dst = self._normalize(src), self._normalize(dst)
        if src != dst:
            self._journaled("mv", src, dst)

    # -- reading: the overlay --------------------------------------------------------------

    def lookup(self, path: str) -> OverlayEntry | None:
        """What the buffer knows of ``path`` ahead of the target: see ``tierfs.writeback``."""
        if self._forked():
            return self._parent_view.current().lookup(self._normalize(path))
        with self._mutex:
            return self._pending.lookup(self._normalize(path))

    def pending(self, prefix: str = "") -> dict[str, OverlayEntry]:
        """Overlay entries at or below ``prefix`` (all for ""), to merge into ls/find."""
        prefix = self._normalize(prefix) if prefix else ""
        if self._forked():
            return self._parent_view.current().under(prefix)
        with self._mutex:
            return self._pending.under(prefix)

    # -- progress and life cycle -----------------------------------------------------------

    def wait_flushed(self, timeout: float | None = None) -> bool:
        """Block until every operation acknowledged before this call is applied to the target.

        Returns False if ``timeout`` seconds passed first (or the buffer was closed).
        """
        self._check_process()
        with self._mutex:
            last = self._next_seq - 1

            def flushed() -> bool:
                oldest = self._pending.oldest_seq()
                return oldest is None or oldest > last

            self._changed.wait_for(lambda: flushed() or self._closed, timeout)
            return flushed()

    def stats(self) -> dict:
        if self._forked():  # the parent's queue; this process uploads nothing
            files, size = (pending := self._parent_view.current()).queued()
            return {"pending_ops": len(pending), "queued_files": files, "queued_bytes": size,
                    "capacity": self.settings.capacity, "forked_from": self._pid}
        with self._mutex:
            files, size = self._pending.queued()
            return {
                "pending_ops": len(self._pending),
                "queued_files": files,
                "queued_bytes": size,
                "used_bytes": self._capacity.used,
                "capacity": self.settings.capacity,
                "uploaded_files": self._uploader.uploaded_files,
                "uploaded_bytes": self._uploader.uploaded_bytes,
                "replaced_unuploaded": self._replaced,
                "retries": self._uploader.retries,
                "paused_for_s": round(self._uploader.paused_for(), 3),
                "last_error": self._uploader.last_error,
            }

    def close(self) -> None:
        """Stop uploading (after running requests end) and release buffer_dir.

        Pending operations stay journaled: the next WriteBackBuffer on this directory
        finishes them. Call ``wait_flushed()`` first to leave nothing behind. In a forked
        child it only closes the inherited descriptors: the parent keeps its lock and files.
        """
        if self._forked():
            self._closed = True
            self._journal.close()
            self._lock.forget()
            return
        with self._mutex:
            if self._closed:
                return
            self._closed = True
            self._changed.notify_all()
        self._uploader.stop()
        self._blob_names.remove_unused()
        self._journal.close()
        self._lock.release()

    def __enter__(self) -> WriteBackBuffer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- called by BufferWriter and Uploader -------------------------------------------

    def _reserve(self, size: int) -> Room:
        with self._mutex:
            room = self._capacity.try_reserve(size)
            if room is Room.FULL and self.settings.when_full == "wait":
                room = self._capacity.wait_reserve(size, stopped=lambda: self._closed)
                self._check_open()  # woken by close(), not by room
            return room

    def _release(self, size: int) -> None:
        with self._mutex:
            self._capacity.writer_closed(size, committed=False)

    def _open_through(self, path: str):
        """A target file for ``path``, once no earlier buffered operation on it is pending."""
        with self._mutex:
            self._changed.wait_for(lambda: not self._pending.touches(path))
        return creating_parent(self.target_fs, path, self.target_fs.open, path, "wb")

    def _acknowledge(self, path: str, blob_path: str, size: int) -> None:
        self._journaled("write", path, file=BufferedFile(blob_path, size, time.time()))

    def _journaled(
        self, kind: str, path: str, dst: str | None = None, file: BufferedFile | None = None
    ) -> None:
        """Append one operation, make it visible to reads, return once its record is durable."""
        self._check_process()
        with self._mutex:
            self._check_open()
            if kind != "write" and self._pending.lookup(path) is DELETED:
                raise FileNotFoundError(path)
            op = Op(self._next_seq, kind, path, dst, file)
            self._next_seq += 1
            replaced = self._pending.replaceable_write(path) if kind != "mv" else None
            if replaced is not None:
                op.replaces = replaced.seq
            try:
                self._journal.append(op.record())
            except OSError:  # a full disk: refused, so the write's room and blob are given back
                if file is not None:
                    self._capacity.writer_closed(file.size, committed=False)
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(file.local_path)
                raise
            if replaced is not None:
                replaced.in_flight = True  # claimed: never uploaded, dropped once op is durable
            self._free(self._pending.add(op))
            if file is not None:
                self._capacity.writer_closed(file.size, committed=True)
        self._journal.sync()
        with self._mutex:
            self._pending.durable_seq = max(self._pending.durable_seq, op.seq)
            if replaced is not None:
                self._free(self._pending.complete(replaced.seq))
                self._replaced += 1
                self._changed.notify_all()
            self._work.notify()

    def _starting(self, op: Op) -> None:
        """Journal that ``op``'s upload starts (not synced: it matters after a process crash,
        which keeps what was written): a successor waits before touching its paths."""
        if self._marks_starts:
            op.started_at = time.time()
            self._journal.append({"op": "start", "seq": op.seq, "at": op.started_at})

    def _finished(self, op: Op) -> None:
        """``op`` is applied to the target: journal that, then let its space and paths go."""
        with self._mutex:
            self._journal.append({"op": "done", "seq": op.seq})
            op.done_logged = True
        self._journal.sync()
        with self._mutex:
            self._free(self._pending.complete(op.seq))
            if not len(self._pending):
                self._journal.truncate()
            elif self._journal.size > self._compact_at:
                self._journal.rewrite(self._pending.journal_records())
                # what is still pending stays: let the journal double before the next rewrite
                self._compact_at = max(COMPACT_JOURNAL_BYTES, 2 * self._journal.size)
            self._work.notify()
            self._changed.notify_all()

    def _free(self, files: list[BufferedFile]) -> None:
        for file in files:
            try:
                os.unlink(file.local_path)
            except FileNotFoundError:
                pass
            self._capacity.free(file.size)

    # -- recovery --------------------------------------------------------------------------

    def _recover(self, records: list[dict], previous_holder_died: bool) -> int:
        """Rebuild pending operations from the journal; drop unacknowledged blobs.

        Returns the bytes the surviving blobs hold. The journal is rewritten to hold only
        what is still pending, so it does not grow across restarts. If the previous process
        died, operations whose upload it had started wait until ``recovery_settle`` seconds
        after that start (a request it sent may still land); every other path goes at once.
        """
        self._next_seq = 1 + max((record["seq"] for record in records), default=0)
        starts = upload_starts(records) if previous_holder_died else {}
        settle = self.settings.recovery_settle
        now_wall, now = time.time(), time.monotonic()
        waiting = 0
        for record in still_pending(records):
            op = Op.from_record(record, str(self._blob_dir))
            if op.file is not None and not _blob_intact(op.file):
                logger.error(
                    "%s: the buffered bytes of %s (journal seq %d) are missing or short; the "
                    "disk under buffer_dir lost them after they were acknowledged",
                    self.directory, op.path, op.seq,
                )
                continue
            started = starts.get(op.seq)
            if started is not None and started + settle > now_wall:
                op.started_at = started
                op.not_before = now + min(settle, started + settle - now_wall)
                waiting += 1
            self._pending.add(op)
        if waiting:
            logger.info("%s: the previous process died uploading %d operation(s); their paths "
                        "wait up to %.1fs, the rest upload now", self.directory, waiting, settle)
        self._pending.durable_seq = self._next_seq - 1
        self._journal.rewrite(self._pending.journal_records())
        referenced = self._pending.referenced()
        keep = {Path(file.local_path).name for file in referenced}
        for name in os.listdir(self._blob_dir):
            if name not in keep:
                os.unlink(self._blob_dir / name)  # never acknowledged, or already uploaded
        if len(self._pending):
            logger.info("%s: recovered %d pending operations", self.directory, len(self._pending))
        return sum(file.size for file in referenced)

    def _forked(self) -> bool:
        return os.getpid() != self._pid

    def _check_process(self) -> None:
        """A forked child shares the lock and journal but has no uploader and a stale state."""
        if self._forked():
            raise RuntimeError(
                f"write-back buffer {self.directory} belongs to process {self._pid}; a forked "
                "child must open its own WriteBackBuffer on its own buffer_dir (with tierfs: "
                "build the filesystem in the child with write_mode='back' and a buffer_dir "
                "of its own, e.g. one per DataLoader worker); it may read through this one"
            )

    def _normalize(self, path: str) -> str:
        return self.target_fs._strip_protocol(path)

    def _check_open(self) -> None:
        self._check_process()
        if self._closed:
            raise ValueError(f"write-back buffer {self.directory} is closed")


def _prepare_directory(buffer_dir: str | os.PathLike) -> Path:
    if not isinstance(buffer_dir, str | os.PathLike) or not str(buffer_dir):
        raise ValueError(f"buffer_dir: expected a directory path, got {buffer_dir!r}")
    directory = Path(buffer_dir).expanduser().absolute()
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"buffer_dir: {directory} exists and is not a directory")
    try:
        private_directory(directory)
    except OSError as error:
        raise ValueError(f"buffer_dir: cannot create {directory}: {error}") from None
    return directory


def _blob_intact(file: BufferedFile) -> bool:
    try:
        return os.stat(file.local_path).st_size == file.size
    except FileNotFoundError:
        return False
