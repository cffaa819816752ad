"""The cache engine's tuning, in one typed table passed to the pieces when they are built.

``DEFAULTS`` (``config``) holds what users configure; this holds what they normally never
touch. ``TUNING`` is the default table; ``dataclasses.replace(TUNING, ...)`` makes another.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tuning:
    # fetch activity: background disk work waits for fetching to be quiet
    quiet_seconds: float = 0.02  # a reader's gap between two fetches is shorter than this
    max_quiet_wait_seconds: float = 1.0  # work waits for quiet this long at most
    quiet_poll_seconds: float = 0.01


TUNING = Tuning()
