"""The cache engine's tuning, in one typed table passed to the pieces when they are built.

``DEFAULTS`` (``config``) holds what users configure; this holds what they normally never
touch. ``TUNING`` is the default table; ``dataclasses.replace(TUNING, ...)`` makes another.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tuning:
    # fetching
    fetch_concurrency: int = 8  # concurrent ranged requests to the under store (the daemon's too)
    prefetch_workers: int = 2  # threads fetching read-ahead windows
    max_pending_store_bytes: int = 32 * 2**20  # fetched bytes queued for the memory tier at
    # most: a long cold read holds them beside the tier's own (docs/performance.md, peak RSS)
    min_deferred_store_bytes: int = 64 * 2**20  # fetched bytes that may wait to be persisted,
    # at least (a memory tier lets as many wait as it holds)
    persist_workers: int = 2  # threads writing fetched blocks to disk tiers: with two, the
    # disk writes one block while the other is copied and checksummed (docs/performance.md)
    opening_blocks: int = 64  # a file's first blocks whose daemon descriptors are asked
    # together when it is opened (the descriptor protocol's MAX_KEYS)
    # fetch activity: background disk work waits for fetching to be quiet
    quiet_seconds: float = 0.02  # a reader's gap between two fetches is shorter than this
    max_quiet_wait_seconds: float = 1.0  # work waits for quiet this long at most
    quiet_poll_seconds: float = 0.01
    # memory tier
    reread_seconds: float = 0.25  # a block read again this long after it arrived is moved
    # into huge pages; a streaming reader is done with a block well within it
    huge_page_reads: int = 256 * 2**10  # only reads this small ask for that move: a copy
    # of megabytes gains less from huge pages than the move costs (docs/performance.md)
    malloc_trim_bytes: int = 32 * 2**20  # malloc'd blocks pushed out by blocks read from
    # disk before the freed pages go back to the kernel (``malloc_arenas``)
    # directory tiers and their block files
    access_flush_count: int = 256  # batched access times written at this many keys,
    access_flush_seconds: float = 2.0  # or after this long
    victim_batch: int = 16  # index rows read per eviction query
    known_states: int = 4096  # parsed headers and checked chunks kept per directory
    mapped_read_limit: int = 256 * 2**10  # larger reads of an unmapped file are a preadv
    mapped_blocks: int = 64  # mappings kept per directory (256 MiB of 4 MiB blocks)
    max_handles: int = 256  # open block files per directory, at most an eighth of the
    # process's descriptor limit
    view_report_seconds: float = 1.0  # a block file's view reports its hits this often at most
    direct_write_buffers: int = 2  # aligned buffers kept for O_DIRECT writes
    # warm fast path
    resident_tables: int = 1024  # tables of views kept for objects no file has open


TUNING = Tuning()
