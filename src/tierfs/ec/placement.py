"""Rendezvous (highest-random-weight) hashing: which k + m targets hold a file.

Every process ranks targets by xxh64(target, key) and takes the top ones, so all agree
without coordination, and adding or removing a target moves only the files it wins or
held. Python's ``hash()`` is salted per process and must never be used here.
"""

from __future__ import annotations

import xxhash


def rank_targets(targets: list[str], key: str) -> list[str]:
    """All ``targets`` ordered by their rendezvous weight for ``key``, highest first."""

    def weight(target: str) -> tuple[int, str]:
        return xxhash.xxh64_intdigest(f"{target}\0{key}".encode()), target

    return sorted(targets, key=weight, reverse=True)


def choose_targets(targets: list[str], key: str, count: int) -> list[str]:
    """The ``count`` targets that hold ``key``; position i holds fragment i."""
    return rank_targets(targets, key)[:count]
