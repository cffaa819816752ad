"""Streaming erasure-coded writes: stripe by stripe, every fragment to its target at once.

Memory stays bounded: one partial stripe in the writer, at most ``QUEUE_STRIPES`` cells
queued per fragment, and each target's own upload buffer. A write survives up to m failed
targets (the file is then degraded, and ``tierfs ec repair`` completes it); beyond that it
is aborted, its fragments removed, and nothing is published. The manifest goes last.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from concurrent.futures import Executor

from tierfs.ec.catalog import Catalog
from tierfs.ec.codec import StripeCodec
from tierfs.ec.errors import ECWriteError
from tierfs.ec.manifest import Manifest, cell_checksum
from tierfs.ec.targets import Target, call_on_targets, is_missing

logger = logging.getLogger(__name__)

QUEUE_STRIPES = 2
UPLOAD_BLOCK = 5 * 2**20  # S3's smallest multipart part: the target's own write buffer
_COMMIT = object()
_ABORT = object()


class FragmentSink:
    """Writes one fragment object, cell after cell, on its own thread."""

    def __init__(self, target: Target, path: str):
        self.target = target
        self.path = path
        self.error: BaseException | None = None
        self._cells: queue.Queue = queue.Queue(maxsize=QUEUE_STRIPES)
        self._thread = threading.Thread(target=self._run, name=f"ecfs-sink {path}", daemon=True)
        self._thread.start()

    def put(self, cell: bytes) -> None:
        if self.error is None:
            self._cells.put(cell)

    def end(self, commit: bool) -> None:
        """Ask for the object to be committed (or abandoned); ``join`` waits for it."""
        self._cells.put(_COMMIT if commit else _ABORT)

    def join(self) -> None:
        self._thread.join()


    def _run(self) -> None:
        cell = None
        try:
            handle = self.target.fs.open(self.path, "wb", block_size=UPLOAD_BLOCK)
            while (cell := self._cells.get()) not in (_COMMIT, _ABORT):
                handle.write(cell)
            if cell is _ABORT:
                _abandon(handle)
                return
            handle.close()
            self.target.make_durable(self.path)
        except Exception as error:  # noqa: BLE001 - reported to the writer, which decides
            self.error = error
            self.target.mark_down(error)
            while cell not in (_COMMIT, _ABORT):
                cell = self._cells.get()  # keep draining so the writer never blocks on us


def finish_all(sinks: list[FragmentSink], commit: bool) -> None:
    """End every sink, then wait for all: their final uploads run at the same time."""
    for sink in sinks:
        sink.end(commit)
    for sink in sinks:
        sink.join()


def _abandon(handle) -> None:
    """Drop an unfinished upload; a file that cannot discard is closed, then removed."""
    try:
        handle.discard()
        handle.closed = True  # discarded uploads must not flush again when collected
    except (AttributeError, NotImplementedError, RuntimeError):
        handle.close()


class StripeWriter:
    """Accepts bytes in any chunks, encodes full stripes, and publishes on ``close``."""

    def __init__(self, path: str, catalog: Catalog, codec: StripeCodec, pool: Executor):
        self.path = path
        self.catalog = catalog
        self.codec = codec
        self.pool = pool
        self.policy = codec.policy
        self.file_id = uuid.uuid4().hex
        self.placement = catalog.placement(path)
        self.sinks = [
            FragmentSink(target, target.data_path(f"{self.file_id}.{index}"))
            for index, target in enumerate(self.placement)
        ]
        self.checksums: list[list[str]] = [[] for _ in self.sinks]
        self.size = 0
        self.tail_cell = self.policy.cell_size
        self._pending = bytearray()
        self._closed = False

    def write(self, data: bytes | memoryview) -> int:
        if self._closed:
            raise ValueError(f"ecfs: writer of {self.path!r} is closed or aborted")
        view = memoryview(data).cast("B")
        stripe = self.policy.stripe_size
        if self._pending:
            take = stripe - len(self._pending)
            self._pending += view[:take]
            view = view[take:]
            if len(self._pending) == stripe:
                self._encode(bytes(self._pending))
                self._pending.clear()
        while len(view) >= stripe:
            self._encode(bytes(view[:stripe]))
            view = view[stripe:]
        self._pending += view
        return len(data)

    def _encode(self, stripe: bytes) -> None:
        fragments = self.codec.encode(stripe)
        self.size += len(stripe)
        self.tail_cell = len(fragments[0]) - self.codec.header_size
        for sink, column, fragment in zip(self.sinks, self.checksums, fragments, strict=True):
            column.append(cell_checksum(fragment))
            sink.put(fragment)
        self._check_failures()

    def _failures(self) -> dict[str, str]:
        return {sink.target.url: str(sink.error) for sink in self.sinks if sink.error is not None}

    def _check_failures(self) -> None:
        failures = self._failures()
        if len(failures) > self.policy.m:
            self.abort()
            raise ECWriteError(self.path, failures, self.policy.m)

    def close(self) -> Manifest:
        """Flush the last stripe, commit every fragment, then publish the manifest."""
        if self._closed:
            raise ValueError(f"ecfs: writer of {self.path!r} is already closed")
        if self._pending:
            self._encode(bytes(self._pending))
            self._pending.clear()
        self._closed = True
        finish_all(self.sinks, commit=True)
        self._check_failures()
        if self._failures():
            logger.warning("ecfs: %s written degraded, missing fragments on %s; run "
                           "'tierfs ec repair'", self.path, sorted(self._failures()))
        manifest = Manifest(
            path=self.path, size=self.size, k=self.policy.k, m=self.policy.m,
            cell_size=self.policy.cell_size, backend=self.codec.backend,
            header_size=self.codec.header_size, tail_cell=self.tail_cell,
            file_id=self.file_id, created=time.time_ns(), version=time.time_ns(),
            targets=tuple(target.url for target in self.placement),
            checksums=tuple(tuple(column) for column in self.checksums),
        )
        try:
            previous = self.catalog.load(self.path)
            self.catalog.publish(manifest, self.placement)
        except ECWriteError as error:
            if not error.left_on:  # a copy that stays must find its fragments
                self._remove_fragments()
            raise
        except Exception:
            self._remove_fragments()
            raise
        if previous is not None and previous.file_id != self.file_id:
            remove_fragments(previous, self.catalog, self.pool)
        return manifest

    def abort(self) -> None:
        """Abandon the write: no manifest, and the fragments written so far are removed."""
        if self._closed:
            return
        self._closed = True
        finish_all(self.sinks, commit=False)
        self._remove_fragments()

    def _remove_fragments(self) -> None:
        def delete(sink: FragmentSink) -> None:
            sink.target.fs.rm_file(sink.path)

        call_on_targets(self.pool, delete, self.sinks)


def remove_fragments(manifest: Manifest, catalog: Catalog, pool: Executor) -> None:
    """Best-effort removal of a file version's fragment objects (the manifest is gone)."""

    def delete(index: int) -> None:
        target = catalog.by_url.get(manifest.targets[index])
        if target is not None:
            target.fs.rm_file(target.data_path(manifest.fragment_name(index)))

    for index, _, error in call_on_targets(pool, delete, range(len(manifest.targets))):
        if error is not None and not is_missing(error):
            logger.warning("ecfs: could not remove fragment %d of %s: %s",
                           index, manifest.path, error)
