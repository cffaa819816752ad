"""What the write-back buffer says about a path before the target knows: the read overlay.

These values are the whole read-your-writes contract between the buffer and ``write_modes.py``;
the functions below merge them into listings.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class BufferedFile:
    """The path's current content is the local file ``local_path`` (``size`` bytes)."""

    local_path: str
    size: int
    mtime: float


@dataclass(frozen=True)
class Redirect:
    """The path was renamed from ``target_path``, whose bytes are still in the target only.

    Read ``target_path`` from the target instead; once the rename is applied the overlay
    entry disappears and the path itself is in the target.
    """

    target_path: str


class Tombstone(enum.Enum):
    DELETED = "deleted"


DELETED = Tombstone.DELETED
"""The path was removed (or renamed away); the target may still have it until that is applied."""

OverlayEntry = BufferedFile | Redirect | Tombstone


def buffered_below(path: str, pending: dict[str, OverlayEntry]) -> list[str]:
    """Paths strictly below ``path`` whose pending entry makes them exist (not DELETED)."""
    prefix = path.rstrip("/") + "/"
    return [name for name, entry in pending.items()
            if entry is not DELETED and name.startswith(prefix)]


def implied_directories(path: str, names: list[str], maxdepth: int | None) -> set[str]:
    """The directories between ``path`` and each of ``names`` (below it), ``maxdepth`` deep.

    Object stores and a buffered file's not yet created parents have no directory
    objects: the files below them are what makes them exist.
    """
    prefix = path.rstrip("/") + "/"
    directories = set()
    for name in names:
        parts = name[len(prefix):].split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            if maxdepth is None or depth <= maxdepth:
                directories.add(prefix + "/".join(parts[:depth]))
    return directories


def overlay_listing(path: str, listing: list[dict], pending: dict[str, OverlayEntry],
                    info: Callable[[str], dict]) -> list[dict]:
    """The target's listing of directory ``path`` with the pending changes below it applied.

    ``info(name)`` answers for a buffered or renamed child.
    """
    entries = {entry["name"]: entry for entry in listing}
    prefix = path.rstrip("/") + "/"
    for name, entry in pending.items():
        if not name.startswith(prefix):
            continue
        child = name[len(prefix):].split("/", 1)
        if entry is DELETED:
            if len(child) == 1:
                entries.pop(name, None)
        elif len(child) == 1:
            entries[name] = info(name)
        else:
            directory = prefix + child[0]
            entries.setdefault(directory, {"name": directory, "size": 0, "type": "directory"})
    return sorted(entries.values(), key=lambda entry: entry["name"])
