"""The daemon's fetchers: ask the owning peer first, time the under store.

Both wrap a plain ``RangeFetcher`` (composition, not flags): ``PeerFetcher`` sends the
blocks another daemon owns to that daemon and keeps the rest; ``TimedFetcher``
records how long the under store takes, for the latency histogram.
"""

from __future__ import annotations

import contextvars
import time
from collections import defaultdict
from collections.abc import Callable

from tierfs.cache import BlockRequest, CacheCounters, Fetcher, block_key
from tierfs.daemon_client import DaemonUnavailable
from tierfs.daemon_client.fetcher import block_address
from tierfs_server.peers import PeerSet

# False while serving a request that came from a peer: never forward it again
forwarding_allowed: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "forwarding_allowed", default=True)


class TimedFetcher:
    def __init__(self, inner: Fetcher, observe: Callable[[float], None]):
        self.inner = inner
        self.observe = observe

    def fetch(self, requests: list[BlockRequest]) -> list[bytes]:
        started = time.perf_counter()
        try:
            return self.inner.fetch(requests)
        finally:
            if requests:
                self.observe(time.perf_counter() - started)


class PeerFetcher:
    def __init__(self, local: Fetcher, peers: PeerSet, mount: str, block_size: int,
                 counters: CacheCounters):
        self.local = local
        self.peers = peers
        self.mount = mount
        self.block_size = block_size
        self.counters = counters

    def fetch(self, requests: list[BlockRequest]) -> list[bytes]:
        results: list[bytes | None] = [None] * len(requests)
        by_owner: dict[str, list[int]] = defaultdict(list)
        if forwarding_allowed.get():
            for i, request in enumerate(requests):
                owner = self.peers.owner(block_key(request.obj, self.block_size, request.index))
                if owner is not None and not self.peers.is_down(owner):
                    by_owner[owner].append(i)
        for owner, indices in by_owner.items():
            addresses = [block_address(self.mount, requests[i], self.block_size)
                         for i in indices]
            try:
                blocks = self.peers.client(owner).fetch_blocks(addresses, from_peer=True)
            except DaemonUnavailable as error:
                self.peers.mark_down(owner, error)
                continue
            for i, (body, _) in zip(indices, blocks, strict=True):
                results[i] = body
            self.counters.add("peer_requests", len(indices))
            self.counters.add("peer_bytes", sum(len(body) for body, _ in blocks))
        local = [i for i, data in enumerate(results) if data is None]
        for i, data in zip(local, self.local.fetch([requests[i] for i in local]), strict=True):
            results[i] = data
        return results
