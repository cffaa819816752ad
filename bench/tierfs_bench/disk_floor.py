"""The ssd tier's floor: how long the disk under a cache directory takes to write N bytes.

A cold read that ends with its bytes in an ssd tier cannot beat the disk writing them.
Timed beside each cold run (same filesystem, the same writes tierfs makes), it tells a slow
cache from a slow disk: on a shared VM the disk's rate moves from run to run.
"""

from __future__ import annotations

import errno
import itertools
import mmap
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

DISK_FLOOR = "ssd write"  # its row in the read benchmark's table
WRITE_SIZE = 4 * 2**20  # one block of the default size per write, as tierfs writes them
_PAGE = 4096
_O_DIRECT = getattr(os, "O_DIRECT", 0)


def time_disk_writes(directory: Path, nbytes: int, writers: int) -> float:
    """Seconds ``writers`` threads take to write ``nbytes`` (rounded up to whole writes of
    ``WRITE_SIZE``) into new files under ``directory``, around the page cache where the
    filesystem allows (tierfs's ssd tier writes that way); the files are removed after.

    Every 4 KiB page written differs from every other (random, then stamped with a
    counter), so a disk that deduplicates or compresses gets no more help than a cache's
    blocks of data would give it."""
    writes = -(-nbytes // WRITE_SIZE)
    shares = [writes // writers + (index < writes % writers) for index in range(writers)]
    paths = [directory / f"disk-floor-{os.getpid()}-{index}" for index in range(writers)]
    buffers = [_random_buffer() for _ in range(writers)]  # page-aligned, as O_DIRECT needs
    pages = itertools.count(0, WRITE_SIZE // _PAGE)
    try:
        with ThreadPoolExecutor(writers) as pool:
            start = time.perf_counter()
            list(pool.map(_write_file, paths, shares, buffers, [pages] * writers))
            return time.perf_counter() - start
    finally:
        for buffer in buffers:
            buffer.close()
        for path in paths:
            path.unlink(missing_ok=True)


def _random_buffer() -> mmap.mmap:
    buffer = mmap.mmap(-1, WRITE_SIZE)
    buffer.write(os.urandom(WRITE_SIZE))
    return buffer


def _write_file(path: Path, count: int, buffer: mmap.mmap, pages: itertools.count) -> None:
    stamps = np.frombuffer(buffer, dtype=np.uint64)[::_PAGE // 8]  # each page's first word
    fd = _create(path)
    try:
        for _ in range(count):
            first = next(pages)
            stamps[:] = np.arange(first, first + len(stamps), dtype=np.uint64)
            written = 0
            while written < len(buffer):
                written += os.write(fd, memoryview(buffer)[written:])
    finally:
        os.close(fd)
        del stamps  # the buffer can be closed once nothing views it


def _create(path: Path) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        return os.open(path, flags | _O_DIRECT, 0o600)
    except OSError as error:  # a filesystem without O_DIRECT: tierfs writes through the cache
        if error.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
            raise
        return os.open(path, flags, 0o600)
