"""Resetting per-process state in a forked child, whose parent's locks and threads are not its own.

One helper instead of a ``register_at_fork`` lambda in every class; where the platform
has no ``fork`` (Windows), nothing needs resetting.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable
from typing import TypeVar

_Owner = TypeVar("_Owner")


def reset_after_fork(owner: _Owner, reset: Callable[[_Owner], object]) -> None:
    """Call ``reset(owner)`` in every forked child, for as long as ``owner`` lives."""
    register = getattr(os, "register_at_fork", None)
    if register is None:
        return
    ref = weakref.ref(owner)
    register(after_in_child=lambda: (live := ref()) is not None and reset(live))
