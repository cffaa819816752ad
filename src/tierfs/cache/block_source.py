"""Serving byte ranges of objects from cached blocks, fetching the missing blocks.

This is where the cache, single-flight and the fetcher meet: a read is cut into
block pieces; hits are served from the tiers; the misses of *all* pieces (of one
read, or of many paths in ``cat``) are fetched together, concurrently, once each.
Sequential readers call ``prefetch`` to have the next blocks fetched in the background.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NamedTuple

from tierfs.cache.block_key import ObjectRef, block_key
from tierfs.cache.fetcher import BlockRequest, Fetcher
from tierfs.cache.resident import ResidentBlocks, ResidentTable
from tierfs.cache.single_flight import SingleFlight
from tierfs.cache.tiered import TieredBlockCache
from tierfs.cache.tuning import TUNING, Tuning
from tierfs.cache.write_behind import WriteBehind

logger = logging.getLogger(__name__)



class Piece(NamedTuple):
    """The part ``[lo, hi)`` of block ``index`` of ``obj`` that one read needs (a tuple:
    made at every read that goes the long way)."""

    obj: ObjectRef
    index: int
    key: str
    lo: int
    hi: int


class Span(NamedTuple):
    """Fetched bytes of one block, starting at offset ``base`` within the block."""

    data: bytes
    base: int


def _view(span: Span, lo: int, hi: int) -> memoryview:
    return memoryview(span.data)[lo - span.base:hi - span.base]


def _union(known: Piece | None, piece: Piece) -> Piece:
    """One piece covering both (two reads of one block in a single ``read_many``)."""
    if known is None:
        return piece
    return Piece(piece.obj, piece.index, piece.key, min(known.lo, piece.lo),
                 max(known.hi, piece.hi))


class BlockSource:
    def __init__(self, cache: TieredBlockCache, fetcher: Fetcher, block_size: int,
                 tuning: Tuning = TUNING):
        self.cache = cache
        # persisting waits for a quiet moment: as many bytes as the memory tier holds for
        # it anyway, at least ``min_deferred_store_bytes``
        self._write_behind = WriteBehind(
            tuning.max_pending_store_bytes,
            max(tuning.min_deferred_store_bytes, cache.room_for_unpersisted()),
            cache.activity, tuning.persist_workers)
        self.fetcher = fetcher
        self.block_size = block_size
        self.counters = cache.counters
        self._resident = ResidentBlocks(cache.view_of_fastest, block_size,
                                        tuning.resident_tables)
        self._prefetch_workers = tuning.prefetch_workers
        self._opening_blocks = tuning.opening_blocks
        self._start_process_state()

    def _start_process_state(self) -> None:
        self._pid = os.getpid()
        self._flights = SingleFlight()
        self._prefetcher = ThreadPoolExecutor(self._prefetch_workers,
                                              thread_name_prefix="tierfs-prefetch")

    def _check_process(self) -> None:
        if self._pid != os.getpid():  # forked: locks and threads of the parent are not ours
            self._start_process_state()

    # -- planning --

    def pieces(self, obj: ObjectRef, start: int, end: int) -> list[Piece]:
        size = self.block_size
        return [
            Piece(obj, index, block_key(obj, size, index),
                  max(start, index * size) - index * size,
                  min(end, (index + 1) * size) - index * size)
            for index in range(start // size, -(-end // size))
        ] if end > start else []

    # -- reading --

    def resident_table(self, obj: ObjectRef) -> ResidentTable:
        """The views of ``obj``'s blocks its readers share: the warm fast path
        (``tierfs.cache.resident``), refreshed after each read that went the long way."""
        return self._resident.table(obj)

    def opening(self, obj: ObjectRef) -> None:
        """A file of ``obj`` was opened: tiers that ask for each block (passed descriptors)
        may ask for its first ``Tuning.opening_blocks`` together."""
        if self.cache.asks_per_block:
            count = min(self._opening_blocks, -(-obj.size // self.block_size))
            self.cache.opening([block_key(obj, self.block_size, index) for index in range(count)])

    def read_many(self, requests: Sequence[tuple[ObjectRef, int, int]],
                  into: Sequence[memoryview] | None = None) -> list[list[memoryview]]:
        """The bytes ``[start, end)`` of each ``(obj, start, end)``, as views of its parts in
        order, or copied into ``into[i]`` (whose list is then that buffer alone).

        Each block part is taken from an open flight (a reader that caught up with
        read-ahead waits for it rather than probing every tier), else from the tiers; the
        misses of all requests are then fetched together, concurrently, once each."""
        if len(requests) == 1:  # one range within one block: a warm read whose view failed
            obj, start, end = requests[0]
            size = self.block_size
            index = start // size
            if end > start and (end - 1) // size == index:
                base = index * size
                part = self._cached(block_key(obj, size, index), start - base, end - base,
                                    None if into is None else into[0])
                if part is not None:
                    return [[part]]
        self._check_process()
        plans: list[list[list]] = []  # per request: [piece, its bytes or None, its dest]
        missing: dict[str, Piece] = {}
        for r, (obj, start, end) in enumerate(requests):
            dest = None if into is None else into[r]
            plan = []
            at = 0
            for piece in self.pieces(obj, start, end):
                length = piece.hi - piece.lo
                target = None if dest is None else dest[at:at + length]
                part = self._cached(piece.key, piece.lo, piece.hi, target)
                if part is None:
                    missing[piece.key] = _union(missing.get(piece.key), piece)
                plan.append([piece, part, target])
                at += length
            plans.append(plan)
        if missing:
            spans = self._load(list(missing.values()))
            for entry in (entry for plan in plans for entry in plan if entry[1] is None):
                piece, _, target = entry
                entry[1] = _view(spans[piece.key], piece.lo, piece.hi)
                if target is not None:
                    target[:] = entry[1]
        if into is not None:
            return [[dest] for dest in into]
        return [[part for _, part, _ in plan] for plan in plans]

    def _cached(self, key: str, lo: int, hi: int, dest: memoryview | None) -> memoryview | None:
        """Bytes ``[lo, hi)`` of block ``key`` from its open flight or the tiers (into
        ``dest`` if given); None if neither has them."""
        future = self._flights.in_flight(key)
        if future is None:
            return self.cache.read_block(key, lo, hi, dest)
        part = memoryview(future.result())[lo:hi]
        if dest is None:
            return part
        dest[:] = part
        return dest

    def _load(self, pieces: list[Piece], *, prefetch: bool = False) -> dict[str, Span]:
        """Bytes for ``pieces``, one span per block key.

        With tiers that keep blocks, spans are whole blocks, fetched once per flight and
        stored. With none (a client of the daemon with neither memory tier nor short-circuit
        view to fill), fetching whole blocks would only waste bandwidth: each piece's own
        range is fetched and nothing is stored.
        """
        if not self.cache.keeps_blocks:
            return self._fetch_ranges(pieces)
        return {key: Span(data, 0) for key, data in self._load_blocks(pieces, prefetch).items()}

    def _fetch_ranges(self, pieces: list[Piece]) -> dict[str, Span]:
        base = [piece.index * self.block_size for piece in pieces]
        fetched = self.fetcher.fetch([
            BlockRequest(piece.obj, piece.index, start + piece.lo, start + piece.hi)
            for piece, start in zip(pieces, base, strict=True)
        ])
        self.counters.add("misses", len(pieces))
        return {piece.key: Span(data, piece.lo)
                for piece, data in zip(pieces, fetched, strict=True)}

    def _load_blocks(self, pieces: list[Piece], prefetch: bool) -> dict[str, bytes]:
        """Whole blocks for ``pieces``: fetched by this caller if it leads the flight."""
        blocks: dict[str, bytes] = {}
        waiting: dict[str, Future] = {}
        leading: list[Piece] = []
        for piece in pieces:
            future, leader = self._flights.join(piece.key)
            if leader:
                leading.append(piece)
            else:
                waiting[piece.key] = future
        if leading:
            blocks.update(self._fetch_as_leader(leading, prefetch))
        for key, future in waiting.items():
            blocks[key] = future.result()
        return blocks

    def _fetch_as_leader(self, pieces: list[Piece], prefetch: bool) -> dict[str, bytes]:
        blocks: dict[str, bytes] = {}
        to_fetch = []
        try:
            for piece in pieces:
                # stored by a flight that closed between our cache miss and our join
                length = self._block_length(piece.obj, piece.index)
                cached = self.cache.read_block(piece.key, 0, length)
                if cached is not None:
                    blocks[piece.key] = bytes(cached)
                else:
                    to_fetch.append(piece)
            fetched = self._fetch_counted([self._request(p) for p in to_fetch])
        except BaseException as error:
            for piece in pieces:
                future, _ = self._flights.join(piece.key)
                if not future.done():
                    future.set_exception(error)
                self._flights.close(piece.key)
            raise
        self.counters.add("prefetched" if prefetch else "misses", len(to_fetch))
        new = {p.key: data for p, data in zip(to_fetch, fetched, strict=True)}
        blocks.update(new)
        self._publish(blocks, new)
        return blocks

    def _fetch_counted(self, requests: list[BlockRequest]) -> list[bytes]:
        """Fetch as part of the cache's activity (background disk work waits for it)."""
        with self.cache.activity.fetching():
            return self.fetcher.fetch(requests)

    def _publish(self, blocks: dict[str, bytes], new: dict[str, bytes], *,
                 wait: bool = True) -> None:
        """Answer the flights of ``blocks`` (all led by this caller) and store the ``new``
        ones in the background: into the memory tier soon, to disk when fetching is quiet.

        A new block's flight stays open (answering anyone who asks) until the tier that
        keeps it has it: the first persistent tier where there is one. The memory tier may
        evict a block before its deferred write ran; readers then take the flight's bytes
        instead of fetching the block again."""
        for key, data in blocks.items():
            future, _ = self._flights.join(key)
            future.set_result(data)
        for key in blocks.keys() - new.keys():
            self._flights.close(key)
        size = sum(map(len, new.values()))
        persists = self.cache.persists_blocks

        def into_memory() -> None:
            try:
                for key, data in new.items():
                    self.cache.store_in_memory(key, data)
            finally:
                if persists:
                    self._write_behind.defer(size, lambda: self._persist(new))
                else:
                    self._close_flights(new)

        self._write_behind.submit(size, into_memory, wait=wait)

    def _persist(self, new: dict[str, bytes]) -> None:
        try:
            for key, data in new.items():
                self.cache.persist(key, data)
        finally:
            self._close_flights(new)

    def _close_flights(self, keys) -> None:
        for key in keys:
            self._flights.close(key)

    def contains(self, obj: ObjectRef, index: int) -> bool:
        """Whether block ``index`` of ``obj`` is in a tier; counts nothing, moves nothing."""
        return self.cache.contains(block_key(obj, self.block_size, index))

    def offer(self, obj: ObjectRef, data: bytes) -> None:
        """Cache ``data``, the first block of ``obj``, which came with its version (see
        ``tierfs.probe``): the first read then finds it instead of asking again. Never
        blocks (it runs on an event loop)."""
        if not self.cache.keeps_blocks or len(data) != min(obj.size, self.block_size):
            return
        self._check_process()
        key = block_key(obj, self.block_size, 0)
        if self.cache.contains(key):
            return
        _, leader = self._flights.join(key)
        if leader:
            self.counters.add("misses")
            self._publish({key: data}, {key: data}, wait=False)

    def store_file(self, obj: ObjectRef, local_path: str) -> None:
        """Put a local copy of ``obj`` (a file just uploaded) into the tiers, block by block."""
        if not self.cache.keeps_blocks:
            return
        with open(local_path, "rb") as file:
            for index in range(-(-obj.size // self.block_size)):
                self.cache.store(block_key(obj, self.block_size, index),
                                 file.read(self.block_size))

    def settle(self, timeout: float | None = None) -> bool:
        """Wait until every fetched block has been stored in the tiers."""
        with self.cache.activity.awaited():
            return self._write_behind.drain(timeout) and self.cache.activity.drain(timeout)

    def _block_length(self, obj: ObjectRef, index: int) -> int:
        return min(self.block_size, obj.size - index * self.block_size)

    def _request(self, piece: Piece) -> BlockRequest:
        start = piece.index * self.block_size
        length = self._block_length(piece.obj, piece.index)
        return BlockRequest(piece.obj, piece.index, start, start + length)

    # -- read-ahead --

    def prefetch(self, obj: ObjectRef, first_block: int, count: int) -> None:
        """Fetch blocks ``first_block ..`` in the background unless cached or in flight.

        What is cached is checked here, on the reader's thread (a stat per new block of
        the window): a warm sequential reader then wakes no prefetch thread at all, whose
        wake-up would compete for the GIL with the reader. A cache that keeps no blocks
        only tells its tiers what comes next (the daemon's HTTP view asks ahead)."""
        last = min(first_block + count, -(-obj.size // self.block_size))
        if not self.cache.keeps_blocks:
            self.cache.expect([
                (block_key(obj, self.block_size, index), self._block_length(obj, index))
                for index in range(first_block, last)])
            return
        self._check_process()
        pieces = [
            Piece(obj, index, key, 0, 0)
            for index in range(first_block, last)
            if self._flights.in_flight(key := block_key(obj, self.block_size, index)) is None
            and not self.cache.contains(key)
        ]
        if pieces:
            self._prefetcher.submit(self._prefetch_quietly, obj, pieces)

    def _prefetch_quietly(self, obj: ObjectRef, pieces: list[Piece]) -> None:
        try:
            self._load(pieces, prefetch=True)
        except Exception as error:  # noqa: BLE001 - the reader will fetch and see the error
            logger.debug("prefetch of %s failed: %s", obj.path, error)
