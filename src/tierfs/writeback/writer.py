"""A file being written into the write-back buffer; its ``close()`` is the acknowledgement.

Bytes go to a private blob file in ``buffer_dir/blobs``; only ``close()`` makes them a
journaled, durable write. A writer left by an exception in its ``with`` block, or dropped
without ``close()``, is discarded: half a file is never acknowledged, so never uploaded.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
from typing import TYPE_CHECKING

from tierfs.writeback.capacity import Room

if TYPE_CHECKING:
    from tierfs.writeback.buffer import WriteBackBuffer

_BLOB_BUFFERING = 1 << 16


class BufferFullError(OSError):
    """The buffer has no room and ``when_full`` says not to wait (or waiting cannot help)."""


class BufferWriter(io.RawIOBase):
    def __init__(self, buffer: WriteBackBuffer, path: str, blob_path: str):
        super().__init__()
        self.path = path
        self.blob_path = blob_path
        self._buffer = buffer
        self._blob = open(blob_path, "wb", buffering=_BLOB_BUFFERING)
        self._target_file = None  # set when the file spilled to the target (when_full="through")
        self._size = 0
        self._reserved = 0
        self._failed = False  # a write was refused: close() must not acknowledge a partial file

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._size

    def write(self, data) -> int:
        if self.closed:
            raise ValueError(f"write to closed file {self.path}")
        self._buffer._check_process()
        size = memoryview(data).nbytes
        if self._target_file is None:
            room = self._buffer._reserve(size)
            if room is Room.GRANTED:
                self._reserved += size
                try:
                    self._blob.write(data)
                except OSError:  # a full disk: close() must not acknowledge the rest
                    self._failed = True
                    raise
                self._size += size
                return size
            if room is Room.FULL and self._buffer.settings.when_full == "through":
                self._spill()
            else:
                self._failed = True
                raise BufferFullError(errno.ENOSPC, self._full_message(room))
        self._target_file.write(data)
        self._size += size
        return size

    def _full_message(self, room: Room) -> str:
        settings = self._buffer.settings
        why = (
            "waiting cannot help: only files still being written hold it (is one file larger "
            "than the buffer?)" if room is Room.STUCK
            else "and when_full='fail' says not to wait"
        )
        return (
            f"write-back buffer full (buffer_capacity={settings.capacity} bytes) while writing "
            f"{self.path}, {why}; raise buffer_capacity"
        )

    def _spill(self) -> None:
        """Move what was written so far to the target file and continue writing there."""
        self._target_file = self._buffer._open_through(self.path)
        self._blob.close()
        with open(self.blob_path, "rb") as written:
            while chunk := written.read(1 << 20):
                self._target_file.write(chunk)
        self._forget_blob()

    def close(self) -> None:
        """Acknowledge: returns once the bytes and a journal record are fsynced in buffer_dir."""
        if self.closed:
            return
        if self._buffer._forked():
            self.discard()
            self._buffer._check_process()  # raises: only the parent can acknowledge it
        if self._failed:
            self.discard()
            return
        try:
            if self._target_file is not None:
                self._target_file.close()
            else:
                try:
                    self._blob.flush()
                    os.fsync(self._blob.fileno())
                    self._blob.close()
                except OSError:  # a full disk: nothing is acknowledged, the room is given back
                    self.discard()
                    raise
                # a refused journal record gives the room and blob back itself
                self._buffer._acknowledge(self.path, self.blob_path, self._size)
                self._reserved = 0
        finally:
            super().close()

    def discard(self) -> None:
        """Drop everything written: nothing is acknowledged, nothing reaches the target."""
        if self.closed:
            return
        try:
            if self._buffer._forked():
                _close_without_flushing(self._blob)  # the parent's blob: its bytes, its file
            elif self._target_file is not None:
                # fsspec files that upload on close can abort (s3fs: the multipart upload)
                abort = getattr(self._target_file, "discard", None)
                if abort is not None:
                    abort()
            else:
                with contextlib.suppress(OSError):  # unflushed bytes of a full disk: dropped
                    self._blob.close()
                self._forget_blob()
        finally:
            super().close()

    def _forget_blob(self) -> None:
        # a later buffer on this directory may already have collected it
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.blob_path)
        self._buffer._release(self._reserved)
        self._reserved = 0

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()

    def __del__(self) -> None:
        if "_blob" in self.__dict__ and not self.closed:
            self.discard()


def _close_without_flushing(file) -> None:
    """Close a forked child's copy of ``file``: its unflushed bytes go to /dev/null.

    Flushing them would append them to the file the child shares with its parent.
    """
    if file.closed:
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, file.fileno())
    finally:
        os.close(null)
    file.close()
