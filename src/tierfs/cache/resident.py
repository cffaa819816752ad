"""Blocks a reader reads directly: the fast path of warm reads.

A warm 64 KiB read that walks file object, block source, tiered cache and tier spent
more time in those layers than in the copy itself: a local ``pread`` of the same bytes
took less time than the layers alone. So a block of the fastest tier that a reader has
hit once is remembered as a *resident view*, by object and block index, in a table the
object's file objects share (a file opened again finds it too). The next read of that
block asks the view alone: it checks what the tier would check (a block file: that the
chunks asked for were verified and the file did not change), counts the hit in the
tier's eviction statistics, and copies the bytes. A 4 MiB read gains too: after its copy
has flushed the CPU caches, every layer it skips cost a few microseconds.

A view holds no bytes of its own: a memory-tier view looks its block up at each read, a
block-file view reads through the tier's open handle, whose mapping the tier may drop at
any time. So a tier evicts, unmaps and closes as it always did; a view whose block went
fails its next read, and the reader, after going the long way, replaces it.

A forked child starts with no views: they rely on its parent's handles and watches.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import OrderedDict
from typing import Protocol

_KEPT_TABLES = 1024  # tables kept for objects no file has open (a reopen finds them)


class ResidentView(Protocol):
    def read(self, lo: int, hi: int, dest: memoryview | None) -> memoryview | None:
        """Bytes ``[lo, hi)`` of the block, counted as a hit by the tier: copied into
        ``dest``, or (``dest`` None) in a view the caller copies out of before dropping
        it. None if the tier must be asked: the block went, a chunk was not verified
        yet, the block file changed."""


class ResidentTable(dict):
    """Block index -> ``ResidentView`` for one object; a dict that can be weakly held."""

    __slots__ = ("__weakref__",)


class ResidentBlocks:
    def __init__(self):
        self._lock = threading.Lock()
        self._live: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        self._kept: OrderedDict[object, ResidentTable] = OrderedDict()
        this = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: (blocks := this()) and blocks._after_fork())

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        for table in list(self._live.values()):
            table.clear()

    def table(self, obj) -> ResidentTable:
        """The table of ``obj`` (an ``ObjectRef``), shared by all its readers."""
        with self._lock:
            table = self._live.get(obj)
            if table is None:
                table = self._live[obj] = ResidentTable()
            self._kept[obj] = table
            self._kept.move_to_end(obj)
            if len(self._kept) > _KEPT_TABLES:
                self._kept.popitem(last=False)
            return table

    @staticmethod
    def remember(table: ResidentTable, index: int, view: ResidentView | None) -> None:
        """Keep ``view`` under ``index`` (None: forget the one there, which failed)."""
        if view is None:
            table.pop(index, None)
        else:
            table[index] = view
