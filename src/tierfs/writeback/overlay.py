"""What the write-back buffer says about a path before the target knows: the read overlay.

These values are the whole read-your-writes contract between the buffer and ``fs.py``.
"""

from __future__ import annotations

import enum
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
