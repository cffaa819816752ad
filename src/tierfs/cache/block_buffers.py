"""Buffers for large reads of block files, reused once the last view of one is released.

Blocks of megabytes read with ``pread`` on many threads land in glibc's per-thread malloc
arenas, each of which keeps what is freed into it (docs/performance.md, "Peak RSS"). These
buffers are anonymous mappings that a finalizer hands back when nothing views them any
more, so memory stays what the tiers hold plus a few spares, and a reused buffer costs no
page faults.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import threading
import weakref

from tierfs.cache.after_fork import reset_after_fork

POOLED_FROM = 2**20  # smaller reads are plain bytes: no finalizer, and malloc reuses them
_SIZE_CLASS = 2**20  # buffers are whole mebibytes, so a block's tail reuses a few sizes
SPARE_BYTES = 64 * 2**20  # kept for reuse at most; process-wide, as the arenas it replaces
# private, so a forked child's writes never reach this process's buffers (elsewhere: the
# platform's own anonymous mapping)
_PRIVATE = ({"flags": mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS}
            if hasattr(mmap, "MAP_ANONYMOUS") else {})


class BlockBuffers:
    """Page-aligned buffers of whole mebibytes; each returns here when its last view dies."""

    def __init__(self, spare_bytes: int = SPARE_BYTES):
        self._spare_bytes = spare_bytes
        # re-entrant: a finalizer may run (and give a buffer back) inside any allocation
        self._lock = threading.RLock()
        self._spares: dict[int, list[mmap.mmap]] = {}
        self._spare_total = 0
        self._kinds: dict[int, type] = {}  # the ctypes array type of each size class
        self._all_kinds: frozenset[type] = frozenset()  # replaced whole: read without the lock
        reset_after_fork(self, BlockBuffers._after_fork)

    def _after_fork(self) -> None:
        self._lock = threading.RLock()  # a thread of the parent may have held it at the fork

    def take(self, size: int) -> memoryview:
        """A writable view of ``size`` new bytes (contents undefined). The caller fills it
        before anyone else sees it; views of it are immutable from then on."""
        capacity = -(-size // _SIZE_CLASS) * _SIZE_CLASS
        region = None
        with self._lock:
            spares = self._spares.get(capacity)
            if spares:
                region = spares.pop()
                self._spare_total -= capacity
            kind = self._kinds.get(capacity)
            if kind is None:
                kind = self._kinds[capacity] = type("PooledBlock", (ctypes.c_char * capacity,), {})
                self._all_kinds = frozenset(self._kinds.values())
        if region is None:
            region = mmap.mmap(-1, capacity, **_PRIVATE)
        owner = kind.from_buffer(region)  # every view of the buffer keeps this alive
        weakref.finalize(owner, self._give_back, region).atexit = False
        with memoryview(owner) as raw:
            return raw.cast("B")[:size]

    def _give_back(self, region: mmap.mmap) -> None:
        with self._lock:
            if self._spare_total + len(region) <= self._spare_bytes:
                self._spares.setdefault(len(region), []).append(region)
                self._spare_total += len(region)
        # not kept: unmapped when the dying owner lets go of it

    def pooled(self, data) -> bool:
        """Whether ``data`` is a view of one of these buffers."""
        return isinstance(data, memoryview) and type(data.obj) in self._all_kinds


BUFFERS = BlockBuffers()


def pread_new(fd: int, size: int, offset: int) -> memoryview:
    """A read-only view of at most ``size`` bytes of ``fd`` from ``offset``: a pooled buffer
    for a large read, new ``bytes`` (no zero fill) for a small one."""
    if size < POOLED_FROM:
        return memoryview(os.pread(fd, size, offset))
    view = BUFFERS.take(size)
    return view[:os.preadv(fd, [view], offset)].toreadonly()


def copy_new(data: memoryview) -> memoryview:
    """A read-only copy of ``data`` that owns its memory (pooled when large)."""
    if len(data) < POOLED_FROM:
        return memoryview(data.tobytes())
    view = BUFFERS.take(len(data))
    view[:] = data
    return view.toreadonly()
