"""What every tier offers the tiered cache, and the values its operations return.

A tier is a small block store with a hard capacity. ``put`` never raises for lack of
space: it evicts by its policy and hands the victims back, so the tiered cache decides
whether they move down a tier or leave the cache (Alluxio's ``PutResult`` idea).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from tierfs.cache.config import TierSpec
from tierfs.cache.fetch_activity import FetchActivity
from tierfs.cache.resident import BlockView


class PutResult(enum.Enum):
    STORED = "stored"
    ALREADY_PRESENT = "already_present"  # benign race: another reader stored it first
    TOO_LARGE = "too_large"  # the block alone exceeds the tier's capacity


@dataclass
class Victim:
    """A block pushed out of a tier: ``read()`` gives its verified bytes (or None if damaged),
    ``release()`` frees whatever still holds it."""

    key: str
    read: Callable[[], bytes | None]
    release: Callable[[], None] = lambda: None


@dataclass
class PutOutcome:
    result: PutResult
    victims: list[Victim] = field(default_factory=list)


class Tier(Protocol):
    """A tier, its capabilities declared rather than probed. Tiers subclass it explicitly,
    so the optional operations (``touch``, ``flush``) default to doing nothing."""

    spec: TierSpec
    accepts_blocks: bool  # False for read-only views (the daemon's tiers seen by a client)
    offers_views: bool  # whether ``view`` gives views of its blocks for the warm fast path
    asks_per_block = False  # whether ``opening`` is worth its keys (see there)
    activity: FetchActivity | None  # what its background work waits for (None: read-only)
    corrupt_blocks: int  # blocks found corrupt here, dropped or (not ours) skipped

    def get(self, key: str, start: int, end: int | None) -> memoryview | None:
        """Verified bytes ``[start, end)`` of the block, or None if absent (or found corrupt)."""

    def get_block(self, key: str) -> memoryview | None:
        """The whole verified block, or None."""

    def read_into(self, key: str, start: int, end: int, dest: memoryview) -> bool:
        """Copy verified bytes ``[start, end)`` into ``dest``; False if absent or corrupt."""

    def view(self, key: str) -> BlockView | None:
        """A view of block ``key`` for the warm fast path (``tierfs.cache.resident``), or
        None if absent; asked only where ``offers_views``."""

    def contains(self, key: str) -> bool: ...

    def put(self, key: str, data: bytes) -> PutOutcome: ...

    def remove(self, key: str) -> bool: ...

    def usage(self) -> tuple[int, int]:
        """(used bytes, number of blocks)."""

    def clear(self) -> None: ...

    def touch(self, key: str) -> None:
        """Count a hit made elsewhere (a client reading this tier's files directly)."""
        return None

    def flush(self) -> None:
        """Write what is batched in memory (access times) now, say at shutdown."""
        return None

    def opening(self, keys: list[str]) -> None:
        """The keys of the first blocks of a file just opened, asked only of tiers that
        ``asks_per_block``: one that asks someone else for each block it reads may ask
        for these together."""
        return None

    def expect(self, blocks: list[tuple[str, int]]) -> None:
        """(key, length) of blocks a sequential reader reads next, in order, for a tier
        that does not keep fetched blocks: a remote one may ask for them ahead."""
        return None
