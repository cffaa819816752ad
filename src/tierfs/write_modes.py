"""How writes reach the under store (straight through, or through the write-back buffer),
and how the writes still pending overlay the target's metadata and listings.

``TierFileSystem`` holds one of these, sends every write to it and asks it ``info``,
``ls`` and ``find``. Both modes invalidate the metadata of what they change, so the writing
process reads its writes; cached blocks need none, their keys carry the object version.
"""

from __future__ import annotations

import datetime
import os
import posixpath
import shutil
import time
from collections.abc import Callable

from tierfs.cached_store import CachedStore
from tierfs.writeback import DELETED, BufferedFile, Redirect, WriteBackBuffer
from tierfs.writeback.overlay import (
    OverlayEntry,
    buffered_below,
    implied_directories,
    overlay_listing,
)

_COPY_CHUNK = 4 * 2**20
_IDLE_POLL_S = (0.001, 0.05)  # first and longest pause while waiting for a directory's uploads
_BUFFER_LOOKUPS = 5  # an upload frees its local copy at most once per lookup


class InvalidatingWriter:
    """A writable file that runs ``on_close`` after its own ``close`` (the acknowledgement)."""

    def __init__(self, file, on_close: Callable[[], None]):
        self._file = file
        self._on_close = on_close

    def close(self) -> None:
        try:
            self._file.close()
        finally:
            self._on_close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is not None and hasattr(self._file, "discard"):
            self._file.discard()  # a failed ``with`` block never acknowledges a partial file
            self._on_close()
            return
        self.close()

    def __getattr__(self, name):
        return getattr(self._file, name)


class WriteThrough:
    """Every write goes to the target before the call returns."""

    name = "through"
    buffers = False  # whether writes may be pending (an overlay ``lookup``/``pending`` answers)

    def __init__(self, fs, cached: CachedStore):
        self.fs = fs
        self.cached = cached
        self.target = cached.target
        self.invalidate = cached.invalidate

    def open(self, path: str, mode: str, **kwargs):
        return InvalidatingWriter(self.target.open(path, mode, **kwargs),
                                  lambda: self.invalidate(path))

    def pipe(self, path: str, data: bytes, **kwargs) -> None:
        self.target.pipe_file(path, data, **kwargs)
        self.invalidate(path)

    def put(self, local_path: str, path: str, **kwargs) -> None:
        self.target.put_file(local_path, path, **kwargs)
        self.invalidate(path)

    def remove(self, paths: list[str], recursive: bool, maxdepth: int | None) -> None:
        self.target.rm(paths, recursive=recursive, maxdepth=maxdepth)
        self.invalidate(*paths, tree=True)

    def move(self, src: str, dst: str, recursive: bool, maxdepth: int | None) -> None:
        self.target.mv(src, dst, recursive=recursive, maxdepth=maxdepth)
        self.invalidate(src, dst, tree=True)

    def copy(self, src: str, dst: str) -> None:
        self.target.cp_file(src, dst)
        self.invalidate(dst)

    def lookup(self, path: str) -> OverlayEntry | None:
        return None

    def pending(self, prefix: str) -> dict[str, OverlayEntry]:
        return {}

    # -- reads: the target's answers with the pending writes laid over them --

    def info(self, path: str, **kwargs) -> dict:
        entry = self.lookup(path)
        if entry is DELETED:
            raise FileNotFoundError(path)
        if isinstance(entry, BufferedFile):
            return {"name": path, "size": entry.size, "type": "file", "mtime": entry.mtime,
                    "buffered": True}
        if isinstance(entry, Redirect):
            # not kept: the source's answer goes stale when the rename is applied
            return self.cached.info(entry.target_path, keep=False, **kwargs) | {"name": path}
        try:
            return self.cached.info(path, **kwargs)
        except FileNotFoundError:
            if not self.buffers:
                raise
            if buffered_below(path, self.pending(path)):
                return {"name": path, "size": 0, "type": "directory"}
            # nothing is pending below it now, so the target has every earlier upload
            return self.cached.info(path, **kwargs)

    def ls(self, path: str, **kwargs) -> list[dict]:
        entry = self.lookup(path)
        if entry is DELETED:
            raise FileNotFoundError(path)
        if entry is not None:  # a buffered or renamed file lists as itself
            return [self.info(path)]
        # asked before the target: an upload finishing in between is then in the target
        pending = self.pending(path)
        try:
            listing = self.cached.listing(path, keep=not pending, hidden=frozenset(pending),
                                          **kwargs)
        except FileNotFoundError:
            if not buffered_below(path, pending):
                raise
            listing = []
        if pending:
            listing = overlay_listing(path, listing, pending, self.info)
        return listing

    def find(self, path: str, maxdepth: int | None, withdirs: bool, **kwargs) -> dict[str, dict]:
        pending = self.pending(path)  # before the target, as in ``ls``
        found = self.cached.find(path, maxdepth, withdirs, hidden=frozenset(pending), **kwargs)
        for name, entry in pending.items():
            depth = posixpath.relpath(name, path).count("/") + 1
            if entry is DELETED:
                found.pop(name, None)
            elif maxdepth is None or depth <= maxdepth:
                found[name] = self.info(name)
        live = buffered_below(path, pending)
        if live:  # then ``path`` is a directory, whatever the target's answer for it
            found.pop(path, None)
            if withdirs:
                for directory in implied_directories(path, live, maxdepth) | {path}:
                    found.setdefault(directory,
                                     {"name": directory, "size": 0, "type": "directory"})
        return found

    def timestamp(self, path: str, ask_target: Callable[[str], datetime.datetime]
                  ) -> datetime.datetime:
        """A buffered write's time, else ``ask_target``'s answer (for a rename: its source's)."""
        entry = self.lookup(path)
        if entry is DELETED:
            raise FileNotFoundError(path)
        if isinstance(entry, BufferedFile):
            return datetime.datetime.fromtimestamp(entry.mtime, tz=datetime.UTC)
        return ask_target(entry.target_path if isinstance(entry, Redirect) else path)

    def buffered_file(self, path: str):
        """An open local file if ``path`` is buffered and not yet uploaded, else None."""
        for _ in range(_BUFFER_LOOKUPS):
            entry = self.lookup(path)
            if not isinstance(entry, BufferedFile):
                return None
            try:
                return open(entry.local_path, "rb")
            except FileNotFoundError:
                continue  # uploaded and freed between lookup and open: look again
        raise FileNotFoundError(f"{path}: its buffered copy keeps disappearing; "
                                "was the write-back buffer directory changed by hand?")

    def wait_flushed(self, timeout: float | None) -> bool:
        return True

    def stats(self) -> dict | None:
        return None

    def close(self) -> None:
        pass


class WriteBack(WriteThrough):
    """Writes are acknowledged once journaled in the buffer; the uploader does the rest.

    Directory operations are expanded here into per-file operations (the buffer journals
    files), reading what exists through the filesystem, so buffered files count too.
    Directories themselves are metadata, as in JuiceFS's write-back: they are made and
    removed in the target at once (a removal once nothing below it is still pending).
    """

    name = "back"
    buffers = True

    def __init__(self, fs, cached: CachedStore, buffer: WriteBackBuffer):
        super().__init__(fs, cached)
        self.buffer = buffer

    def open(self, path: str, mode: str, **kwargs):
        if "x" in mode and self.fs.exists(path):
            raise FileExistsError(f"{path}: exists")
        writer = self.buffer.open_write(path)
        if "a" in mode and self.fs.exists(path):
            with self.fs.open(path, "rb") as existing:
                shutil.copyfileobj(existing, writer, _COPY_CHUNK)
        return InvalidatingWriter(writer, lambda: self.invalidate(path))

    def pipe(self, path: str, data: bytes, mode: str = "overwrite", **kwargs) -> None:
        self._check_create(path, mode)
        self.buffer.pipe(path, data)
        self.invalidate(path)

    def put(self, local_path: str, path: str, mode: str = "overwrite", **kwargs) -> None:
        self._check_create(path, mode)
        if os.path.isdir(local_path):
            self.fs.makedirs(path, exist_ok=True)
            return
        with open(local_path, "rb") as source, self.buffer.open_write(path) as writer:
            shutil.copyfileobj(source, writer, _COPY_CHUNK)
        self.invalidate(path)

    def copy(self, src: str, dst: str) -> None:
        if self.fs.isdir(src):
            self.fs.makedirs(dst, exist_ok=True)
            return
        with self.fs.open(src, "rb") as source, self.buffer.open_write(dst) as writer:
            shutil.copyfileobj(source, writer, _COPY_CHUNK)
        self.invalidate(dst)

    def _check_create(self, path: str, mode: str) -> None:
        if mode == "create" and self.fs.exists(path):
            raise FileExistsError(f"{path}: exists (mode='create')")

    def _files(self, path: str, recursive: bool, maxdepth: int | None) -> list[str]:
        if not self.fs.isdir(path):
            if not self.fs.exists(path):
                raise FileNotFoundError(path)
            return [path]
        if not recursive:
            raise IsADirectoryError(f"{path}: is a directory; pass recursive=True")
        return self.fs.find(path, maxdepth=maxdepth)

    def remove(self, paths: list[str], recursive: bool, maxdepth: int | None) -> None:
        for path in paths:
            directory = self.fs.isdir(path)
            for file in self._files(path, recursive, maxdepth):
                self.buffer.rm(file)
                self.invalidate(file)
            if directory and maxdepth is None:
                self._remove_directory(path)
            self.invalidate(path, tree=directory)

    def move(self, src: str, dst: str, recursive: bool, maxdepth: int | None) -> None:
        directory = self.fs.isdir(src)
        for file in self._files(src, recursive=True, maxdepth=maxdepth):
            target = dst if file == src else dst.rstrip("/") + file[len(src.rstrip("/")):]
            self.buffer.mv(file, target)
            self.invalidate(file, target)
        if directory and maxdepth is None:
            self._remove_directory(src)
        self.invalidate(src, dst, tree=directory)

    def _remove_directory(self, path: str) -> None:
        """Remove ``path`` from the target once its journaled changes below it are applied.

        Waits on the buffer's public overlay (an entry goes when its last operation is
        applied), so a remote buffer serves as well as a local one.
        """
        pause = _IDLE_POLL_S[0]
        while self.buffer.pending(path):
            time.sleep(pause)
            pause = min(2 * pause, _IDLE_POLL_S[1])
        try:
            self.target.rm(path, recursive=True)
        except FileNotFoundError:
            pass  # only buffered files made it exist: nothing left in the target

    def lookup(self, path: str) -> OverlayEntry | None:
        return self.buffer.lookup(path)

    def pending(self, prefix: str) -> dict[str, OverlayEntry]:
        return self.buffer.pending(prefix)

    def wait_flushed(self, timeout: float | None) -> bool:
        return self.buffer.wait_flushed(timeout)

    def stats(self) -> dict | None:
        return self.buffer.stats()

    def close(self) -> None:
        self.buffer.close()
