"""Eviction policies as data: each policy is the ordering of candidates, coldest first.

Both tier kinds use the same table: the memory tier sorts its entries by these fields
in Python, the directory tiers hand them to SQLite as an ``ORDER BY``. Adding a policy
is adding one entry.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class EntryStats:
    """What a policy may look at: when the block was last used, inserted, and how often hit."""

    last_access: float
    inserted: float
    hits: int = 0


EVICTION_POLICIES: dict[str, tuple[str, ...]] = {
    "lru": ("last_access",),  # least recently used
    "lfu": ("hits", "last_access"),  # least frequently used; ties go to the older access
    "fifo": ("inserted",),  # first in, first out: ignores hits, resists scan pollution least
}


def sort_key(policy: str):
    """A key function ordering ``EntryStats`` coldest first under ``policy``."""
    fields = EVICTION_POLICIES[policy]
    return lambda stats: tuple(getattr(stats, name) for name in fields)


def order_by(policy: str) -> str:
    """The SQL ``ORDER BY`` clause listing rows coldest first under ``policy``."""
    return ", ".join(EVICTION_POLICIES[policy])


def evicts_unhit_first(policy: str) -> bool:
    """Whether ``policy``'s first victims are blocks never hit yet (the newest, often)."""
    return EVICTION_POLICIES[policy][0] == "hits"
