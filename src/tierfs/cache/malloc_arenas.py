"""One glibc malloc arena for the process, so freed blocks are reused instead of hoarded.

Blocks of megabytes are allocated and freed on many threads, and each thread's arena keeps
what is freed into it (docs/performance.md). The daemon applies this at start; a library
user opts in by calling ``limit_malloc_arenas``; ``MALLOC_ARENA_MAX`` in the environment
always wins.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

logger = logging.getLogger(__name__)

_M_ARENA_MAX = -8  # from glibc's malloc.h


def limit_malloc_arenas() -> bool:
    """Ask glibc for a single arena (arenas created from now on); False where not applied."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return bool(libc is not None and libc.mallopt(_M_ARENA_MAX, 1) == 1)
    except (OSError, AttributeError):  # not glibc: nothing to tune
        logger.debug("mallopt unavailable; malloc arenas left as they are")
        return False
