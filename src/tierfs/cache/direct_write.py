"""Writing new block files around the page cache (``O_DIRECT``), where the filesystem allows.

While fetching is busy, filling fresh page-cache pages costs the CPU a cold reader needs,
and while a caller waits for the stores it costs the wait (docs/performance.md); otherwise
files go through the page cache, which then holds them in large folios. Filesystems (or
platforms) without ``O_DIRECT`` get buffered writes.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import threading
from collections.abc import Sequence

try:
    import fcntl
except ImportError:  # not a Unix: no O_DIRECT either, every write goes through the page cache
    fcntl = None

_ALIGN = 4096  # covers the logical block size of every device we expect
_O_DIRECT = getattr(os, "O_DIRECT", 0) if fcntl is not None else 0  # Linux only
_REFUSED = {errno.EINVAL, errno.EOPNOTSUPP}  # how filesystems without O_DIRECT say so


class DirectWriter:
    """Creates files whose bytes skip the page cache; one per directory tier."""

    def __init__(self, kept_buffers: int = 2):
        """Up to ``kept_buffers`` aligned buffers are reused (writes usually come from one
        background thread); spares beyond them are freed."""
        self._kept_buffers = kept_buffers
        self._lock = threading.Lock()
        self._spare: list[mmap.mmap] = []
        self._direct = bool(_O_DIRECT)  # until the filesystem refuses it

    def write_new(self, path: str, parts: Sequence[bytes | memoryview], *,
                  direct: bool = True) -> None:
        """Create ``path`` (it must not exist yet) holding ``parts`` end to end, around the
        page cache if ``direct`` and the filesystem allows it."""
        total = sum(len(part) for part in parts)
        whole = total - total % _ALIGN
        if direct and self._direct and whole:
            try:
                self._write_direct(path, parts, whole)
                return
            except OSError as error:
                if error.errno not in _REFUSED:
                    raise
                self._direct = False  # this filesystem does not do O_DIRECT
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        _write_buffered(path, parts)

    def _write_direct(self, path: str, parts: Sequence[bytes | memoryview], whole: int) -> None:
        buffer = self._take(whole)
        try:
            view = memoryview(buffer)
            tail = _gather(parts, view, whole)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_DIRECT, 0o600)
            try:
                _write_all(fd, view[:whole])
                if tail:
                    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~_O_DIRECT)
                    _write_all(fd, tail)
            finally:
                os.close(fd)
                view.release()
        finally:
            self._give_back(buffer)

    def _take(self, size: int) -> mmap.mmap:
        with self._lock:
            for index, buffer in enumerate(self._spare):
                if len(buffer) >= size:
                    return self._spare.pop(index)
        # anonymous mappings are page-aligned; private, so a forked child's writes (its
        # spares are copies of ours) never reach this process's buffers
        return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)

    def _give_back(self, buffer: mmap.mmap) -> None:
        with self._lock:
            if len(self._spare) < self._kept_buffers:
                self._spare.append(buffer)
                return
        buffer.close()


def _gather(parts: Sequence[bytes | memoryview], into: memoryview, whole: int) -> bytes:
    """Copy the first ``whole`` bytes of ``parts`` into ``into``; return the rest."""
    at = 0
    rest = []
    for part in parts:
        part = memoryview(part).cast("B")
        take = max(0, min(len(part), whole - at))
        into[at:at + take] = part[:take]
        at += take
        rest.append(part[take:])
    return b"".join(rest)


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _write_buffered(path: str, parts: Sequence[bytes | memoryview]) -> None:
    """One ``writev`` for all parts: the kernel sizes page-cache folios by the write, and
    a header written alone would split the first 2 MiB of the file into small ones."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        views = [view for part in parts if len(view := memoryview(part).cast("B"))]
        while views:
            written = os.writev(fd, views)
            while views and written >= len(views[0]):
                written -= len(views.pop(0))
            if written:
                views[0] = views[0][written:]
    finally:
        os.close(fd)
