"""Fetching missing blocks through the daemon, or around it when it is down.

The daemon fetches each block once for the whole node (and asks its peers first), so
every process of the node sends its misses here. If the daemon cannot be reached the
policy decides: ``"direct"`` reads the under store itself (correct bytes, no sharing),
``"error"`` raises a ``DaemonUnavailable`` that says so.
"""

from __future__ import annotations

import logging
import time

from tierfs.cache import BlockRequest, CacheCounters, RangeFetcher
from tierfs.daemon_client.client import DaemonClient, DaemonUnavailable
from tierfs.daemon_client.protocol import BlockAddress

logger = logging.getLogger(__name__)

FALLBACKS = ("direct", "error")
_RETRY_DAEMON_AFTER_S = 5.0


def block_address(mount: str, request: BlockRequest, block_size: int) -> BlockAddress:
    """The daemon's address of a fetch request (a whole block, or a range inside one)."""
    base = request.index * block_size
    return BlockAddress(mount, request.obj.path, request.obj.size, request.obj.version,
                        request.index, request.start - base, request.end - base)


class DaemonFetcher:
    def __init__(self, client: DaemonClient, mounts: dict[str, str], direct: RangeFetcher,
                 fallback: str, counters: CacheCounters, block_size: int):
        """``mounts`` maps the daemon's mount names (for this client's store) to path roots."""
        self.block_size = block_size
        self.client = client
        self.mounts = mounts
        self.direct = direct
        self.fallback = fallback
        self.counters = counters
        self._down_until = 0.0

    def mount_of(self, path: str) -> str | None:
        for name, root in self.mounts.items():
            if not root or path == root or path.startswith(root.rstrip("/") + "/"):
                return name
        return None

    def fetch(self, requests: list[BlockRequest]) -> list[bytes]:
        mounts = [self.mount_of(r.obj.path) for r in requests]
        results: list[bytes | None] = [None] * len(requests)
        via_daemon = [i for i, mount in enumerate(mounts) if mount is not None]
        if via_daemon and time.monotonic() >= self._down_until:
            addresses = [block_address(mounts[i], requests[i], self.block_size)
                         for i in via_daemon]
            try:
                for i, (body, _) in zip(via_daemon, self.client.fetch_blocks(addresses),
                                        strict=True):
                    results[i] = body
                self.counters.add("daemon_requests", len(via_daemon))
                self.counters.add("daemon_bytes", sum(len(results[i]) for i in via_daemon))
            except DaemonUnavailable as error:
                if self.fallback == "error":
                    raise
                logger.warning("%s; reading the under store directly for %.0fs",
                               error, _RETRY_DAEMON_AFTER_S)
                self._down_until = time.monotonic() + _RETRY_DAEMON_AFTER_S
        direct = [i for i, data in enumerate(results) if data is None]
        for i, data in zip(direct, self.direct.fetch([requests[i] for i in direct]),
                           strict=True):
            results[i] = data
        return results
