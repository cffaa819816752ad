"""Background jobs counted under a condition, and ``drain``: run them now, wait for none.

The write-behind queues and the quiet-time runner both hold jobs back while fetching is
busy; a caller that needs the work done (``settle``, ``cache_stats``) sets ``draining``.
"""

from __future__ import annotations

import threading


class PendingJobs:
    """``jobs`` waiting or running and ``draining`` callers, guarded by ``changed`` (the
    owner's condition, which may guard more of its state)."""

    def __init__(self, changed: threading.Condition):
        self.changed = changed
        self.jobs = 0
        self.draining = 0

    def finished(self) -> None:
        """One job ended (the caller holds ``changed``)."""
        self.jobs -= 1
        self.changed.notify_all()

    def drain(self, timeout: float | None = None) -> bool:
        """Have held-back jobs run at once and wait until none is left; False on timeout."""
        with self.changed:
            self.draining += 1
            self.changed.notify_all()
            try:
                return self.changed.wait_for(lambda: not self.jobs, timeout)
            finally:
                self.draining -= 1
