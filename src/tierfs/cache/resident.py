"""Blocks a reader copies from directly: the fast path of warm small reads.

A warm 64 KiB read that walks file object, block source, tiered cache and tier spent
more time in those layers than in the copy itself: a local ``pread`` of the same bytes
took less time than the layers alone. So a block of the fastest tier that a reader has
hit once is remembered as a *resident view*, by object and block index, in a table the
object's file objects share (a file opened again finds it too). The next read of that
block asks the view alone: it checks what the tier would check (a mapped block file:
that its change watch is quiet and the chunks asked for were verified), counts the hit
in the tier's eviction statistics, and hands out the bytes.

A view holds memory (a memory-tier block, a mapping of a block file), so a tier revokes
every view as soon as it lets go of any block: on an eviction, a removal, an unmapping.
Revoking empties every table, including those of open files; the next read of each
block goes the long way once and leaves a new view. Revocations come with evictions,
which a working set that fits its tier does not have.

Lock order: the registry lock is a leaf; tiers revoke while holding their own locks.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

_KEPT_TABLES = 1024  # tables kept for objects no file has open (a reopen finds them)


class ResidentView(Protocol):
    def view(self, lo: int, hi: int) -> memoryview | None:
        """Bytes ``[lo, hi)`` of the block, counted as a hit by the tier, or None if the
        tier must be asked (a chunk not verified yet, a block file that changed). The
        caller copies out of the view before dropping it."""


class ResidentTable(dict):
    """Block index -> ``ResidentView`` for one object; a dict that can be weakly held."""

    __slots__ = ("__weakref__",)


class ResidentBlocks:
    def __init__(self):
        self._lock = threading.Lock()
        self._live: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        self._kept: OrderedDict[object, ResidentTable] = OrderedDict()
        self._revocations = 0
        this = weakref.ref(self)
        # a forked child rebuilds its tiers' process state (handles, change watches), so
        # the views it inherited rely on state that is not its own
        os.register_at_fork(after_in_child=lambda: (blocks := this()) and blocks._after_fork())

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self.revoke()

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

    def remember(self, table: ResidentTable, index: int,
                 make_view: Callable[[], ResidentView | None]) -> None:
        """Put the view ``make_view()`` returns (if any) under ``index`` of ``table``,
        unless a revocation came in between: it may have been meant for that view."""
        before = self._revocations
        view = make_view()
        if view is None:
            return
        with self._lock:
            if self._revocations == before:
                table[index] = view

    def revoke(self) -> None:
        """Forget every view (a tier let go of a block some view may hold)."""
        with self._lock:
            self._revocations += 1
            for table in list(self._live.values()):
                table.clear()
