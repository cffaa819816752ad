"""The warm fast path: views of cached blocks that a reader asks directly, skipping the layers.

A block of the fastest tier that a read reached once is remembered as a view
(``Tier.view``), in a table per object shared by its file objects; later reads of the
block ask the view alone. A view holds no bytes, so a tier evicts as it always did: the
view of a block that went fails its next read, and the read goes the long way again.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from time import monotonic
from typing import Protocol

from tierfs.cache.after_fork import reset_after_fork
from tierfs.cache.block_key import ObjectRef, block_key
from tierfs.cache.stats import HitTally


class BlockView(Protocol):
    def read(self, lo: int, hi: int, dest: memoryview | None) -> memoryview | None:
        """Bytes ``[lo, hi)`` of the block, counted as a hit by its tier: copied into
        ``dest``, or (``dest`` None) in a view the caller copies out of before dropping
        it. None if the tier must be asked: the block went, a chunk was not verified yet,
        the block file changed."""


class MemoryBlockView:
    """A view of a memory-tier block: looked up at each read, so an evicted block is never
    kept alive by a view."""

    __slots__ = ("blocks", "key", "count_hit")

    def __init__(self, blocks: dict[str, memoryview], key: str,
                 count_hit: Callable[[str, int], None]):
        self.blocks, self.key, self.count_hit = blocks, key, count_hit

    def read(self, lo: int, hi: int, dest: memoryview | None) -> memoryview | None:
        data = self.blocks.get(self.key)
        if data is None:
            return None
        self.count_hit(self.key, hi - lo)
        if dest is None:
            return data[lo:hi]
        dest[:] = data[lo:hi]
        return dest


class FileBlockView:
    """A view of an open block file: its handle's checked reads (``BlockHandle``), looked up
    once. Hits are reported to ``record`` at the first, then at most every
    ``report_seconds``: the tier batches access times anyway, and eviction order is all
    they tune."""

    __slots__ = ("handle", "watch", "record", "unreported", "report_at", "report_seconds")

    def __init__(self, handle, watch, record: Callable[[int], None], report_seconds: float):
        self.handle, self.watch, self.record = handle, watch, record
        self.unreported, self.report_at, self.report_seconds = 0, 0.0, report_seconds

    def read(self, lo: int, hi: int, dest: memoryview | None) -> memoryview | None:
        view = self.handle.read_checked(lo, hi, dest, self.watch)
        if view is not None:
            self.unreported += 1
            if monotonic() >= self.report_at:
                hits, self.unreported = self.unreported, 0
                self.report_at = monotonic() + self.report_seconds
                self.record(hits)
        return view


class ResidentTable(dict):
    """Block index -> ``BlockView`` for one object; a dict that can be weakly held."""

    __slots__ = ("__weakref__", "obj", "block_size", "view_of")

    def __init__(self, obj: ObjectRef, block_size: int,
                 view_of: Callable[[str], BlockView | None] | None):
        super().__init__()
        self.obj, self.block_size, self.view_of = obj, block_size, view_of

    def read(self, start: int, end: int, dest: memoryview | None,
             tally: HitTally) -> memoryview | None:
        """``[start, end)`` through the views of its blocks, into ``dest`` (or a view to copy
        from), each block's read counted in ``tally``; None if a block has no view or its
        view failed. The hot path of warm reads: each call here costs about a syscall."""
        block_size = self.block_size
        index = start // block_size
        view = self.get(index)
        if view is None or end <= start:
            return None
        base = index * block_size
        if end - base > block_size:
            return self._read_span(start, end, dest, tally)
        part = view.read(start - base, end - base, dest)
        if part is not None:
            tally.hits += 1
        return part

    def _read_span(self, start: int, end: int, dest: memoryview | None,
                   tally: HitTally) -> memoryview | None:
        """A read across blocks, each part through its block's view (the long way cost a
        boundary-crossing read several times as much as two views)."""
        block_size = self.block_size
        parts = []
        at = start
        while at < end:
            index = at // block_size
            base = index * block_size
            stop = min(end, base + block_size)
            view = self.get(index)
            part = None if view is None else view.read(
                at - base, stop - base, None if dest is None else dest[at - start:stop - start])
            if part is None:
                return None
            parts.append(part)
            at = stop
        tally.hits += len(parts)
        return dest if dest is not None else memoryview(b"".join(parts))

    def refresh(self, start: int, end: int) -> None:
        """After a read of ``[start, end)`` went the long way: keep a view of each of its
        blocks, or forget the failed one where the fastest tier does not hold the block."""
        if self.view_of is None:
            return
        block_size = self.block_size
        for index in range(start // block_size, (end - 1) // block_size + 1):
            view = self.view_of(block_key(self.obj, block_size, index))
            if view is None:
                self.pop(index, None)
            else:
                self[index] = view


class ResidentBlocks:
    """The tables of every object read through one block source. A forked child starts
    with no views: they rely on its parent's handles and watches."""

    def __init__(self, view_of: Callable[[str], BlockView | None] | None, block_size: int,
                 kept_tables: int):
        """``view_of`` is the fastest tier's ``view`` (None: it offers none); up to
        ``kept_tables`` tables of objects no file has open are kept for a reopen."""
        self._view_of, self._block_size, self._kept_tables = view_of, block_size, kept_tables
        self._lock = threading.Lock()
        self._live: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        self._kept: OrderedDict[ObjectRef, ResidentTable] = OrderedDict()
        reset_after_fork(self, ResidentBlocks._after_fork)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        for table in list(self._live.values()):
            table.clear()

    def table(self, obj: ObjectRef) -> ResidentTable:
        """The table of ``obj``, shared by all its readers."""
        with self._lock:
            table = self._live.get(obj)
            if table is None:
                table = self._live[obj] = ResidentTable(obj, self._block_size, self._view_of)
            self._kept[obj] = table
            self._kept.move_to_end(obj)
            if len(self._kept) > self._kept_tables:
                self._kept.popitem(last=False)
            return table
