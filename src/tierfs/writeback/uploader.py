"""The background uploader: worker threads applying pending operations to the target.

Workers take the next runnable operation (journal order per path, see ``PendingOps``), apply
it with plain fsspec calls, and report back. A failure pauses *all* workers with exponential
backoff — a down target fails every request alike — and the operation is retried; nothing
is ever given up. Not here: journaling and freeing space (the buffer's ``on_done``).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from fsspec import AbstractFileSystem

from tierfs.writeback.pending import Op, PendingOps
from tierfs.writeback.settings import WriteBackSettings

logger = logging.getLogger(__name__)


def apply_op(target_fs: AbstractFileSystem, op: Op) -> None:
    """Make the target reflect ``op``; safe to repeat after a crash (replay)."""
    if op.kind == "write":
        # one request under the final name: a PUT (multipart for large files) is atomic
        creating_parent(target_fs, op.path, target_fs.put_file, op.file.local_path, op.path)
    elif op.kind == "rm":
        try:
            target_fs.rm_file(op.path)
        except FileNotFoundError:
            pass  # already gone: this is a replay of an applied delete
    else:
        try:
            creating_parent(target_fs, op.dst, target_fs.mv, op.path, op.dst)
        except FileNotFoundError:
            if target_fs.exists(op.path):
                raise
            logger.info("rename %s -> %s: source already gone (applied before a restart)",
                        op.path, op.dst)


def creating_parent(target_fs: AbstractFileSystem, path: str, call, *args):
    """Return ``call(*args)``; on FileNotFoundError create ``path``'s parent once and retry.

    Object stores need no directories, so they never pay for this; local-like targets do.
    """
    try:
        return call(*args)
    except FileNotFoundError:
        target_fs.makedirs(target_fs._parent(path), exist_ok=True)
        return call(*args)


class Backoff:
    """How long every worker pauses after consecutive failures: initial × 2^n, capped, jittered."""

    def __init__(self, initial: float, maximum: float):
        self._initial = initial
        self._maximum = maximum
        self._failures = 0
        self.paused_until = 0.0

    def failed(self, now: float) -> float:
        delay = min(self._maximum, self._initial * 2**self._failures)
        delay *= random.uniform(0.75, 1.0)
        self._failures += 1
        self.paused_until = now + delay
        return delay

    def succeeded(self) -> None:
        self._failures = 0
        self.paused_until = 0.0


class Uploader:
    """Worker threads waiting on the buffer's ``work`` condition; ``on_done(op)`` after success."""

    def __init__(
        self,
        cond: threading.Condition,
        pending: PendingOps,
        target_fs: AbstractFileSystem,
        settings: WriteBackSettings,
        on_done: Callable[[Op], None],
        on_uploaded: Callable[[str, str | None], None] | None,
        on_start: Callable[[Op], None] = lambda op: None,
    ):
        self._cond = cond
        self._pending = pending
        self._target_fs = target_fs
        self._on_start = on_start
        self._on_done = on_done
        self._on_uploaded = on_uploaded
        self._backoff = Backoff(settings.retry_initial, settings.retry_max)
        self._threads = [
            threading.Thread(target=self._run, name=f"tierfs-upload-{i}", daemon=True)
            for i in range(settings.upload_workers)
        ]
        self._stopping = False
        self.uploaded_files = 0
        self.uploaded_bytes = 0
        self.retries = 0
        self.last_error: str | None = None

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop taking work; return after running operations finished (or failed)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            if thread.is_alive():
                thread.join()

    def paused_for(self) -> float:
        return max(0.0, self._backoff.paused_until - time.monotonic())

    def _take(self) -> Op | None:
        with self._cond:
            while not self._stopping:
                pause = self.paused_for()
                if pause > 0:
                    self._cond.wait(pause)
                    continue
                now = time.monotonic()
                op = self._pending.next_runnable(now)
                if op is not None:
                    self._cond.notify()  # pass the baton: another op may be runnable too
                    return op
                wait_over = self._pending.next_wait_over(now)
                self._cond.wait(None if wait_over is None else wait_over - now)
            return None

    def _run(self) -> None:
        while (op := self._take()) is not None:
            try:
                self._on_start(op)
                apply_op(self._target_fs, op)
            except Exception as error:  # noqa: BLE001 - any failure is retried, never dropped
                self._failed(op, error)
                continue
            if self._on_uploaded is not None:
                try:
                    for path in op.paths():  # a removed or renamed path has no file
                        self._on_uploaded(path, None if op.file is None else op.file.local_path)
                except Exception:  # the upload stands even if the read cache could not take it
                    logger.exception("on_uploaded(%s) failed", op.path)
            try:
                self._on_done(op)
            except OSError as error:  # the done mark was not journaled: apply again later
                self._failed(op, error)
                continue
            with self._cond:
                self._backoff.succeeded()
                if op.file is not None:
                    self.uploaded_files += 1
                    self.uploaded_bytes += op.file.size

    def _failed(self, op: Op, error: Exception) -> None:
        with self._cond:
            op.in_flight = False
            delay = self._backoff.failed(time.monotonic())
            self.retries += 1
            self.last_error = f"{op.kind} {op.path}: {type(error).__name__}: {error}"
            self._cond.notify_all()
        logger.warning("%s; retrying in %.1fs", self.last_error, delay)
