"""glibc's malloc and blocks of megabytes: one arena for the process, or freed memory trimmed.

Blocks are allocated and freed on many threads, and each thread's arena keeps what is freed
into it (docs/performance.md). The daemon applies one arena at start; a library user opts in
by calling ``limit_malloc_arenas`` (``MALLOC_ARENA_MAX`` in the environment always wins).
Without it, the memory tier gives back what its malloc'd blocks left (``release_free_memory``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

logger = logging.getLogger(__name__)

_M_ARENA_MAX = -8  # from glibc's malloc.h


def _libc():
    """glibc, or None where there is none (or it lacks malloc's tunables)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return libc if libc is not None and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


_LIBC = _libc()


def limit_malloc_arenas() -> bool:
    """Ask glibc for a single arena (arenas created from now on); False where not applied."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    if _LIBC is None:  # not glibc: nothing to tune
        logger.debug("mallopt unavailable; malloc arenas left as they are")
        return False
    return _LIBC.mallopt(_M_ARENA_MAX, 1) == 1


def release_free_memory() -> None:
    """Return the whole free pages of every arena to the kernel (``malloc_trim``; nothing
    without glibc). It changes no setting: later allocations fault pages in again."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
