"""Attaching a ``tierfs`` filesystem to the node's cache daemon.

The daemon owns the persistent tiers and fetches every miss once for the node. The
client keeps only an optional private memory tier and reads the daemon's cached blocks
the fastest way it can: its tier files directly when it can see them (short-circuit),
else descriptors of them passed over the daemon's descriptor socket, else ranged HTTP
reads; misses go to the daemon.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from tierfs.cache import CacheCounters, RangeFetcher, Tier, TierSpec, build_tiers
from tierfs.daemon_client.client import DaemonClient, DaemonUnavailable
from tierfs.daemon_client.descriptors import DescriptorTier
from tierfs.daemon_client.fetcher import FALLBACKS, DaemonFetcher
from tierfs.daemon_client.hit_reports import HitReporter
from tierfs.daemon_client.http_blocks import HttpBlocks, HttpBlockTier
from tierfs.daemon_client.short_circuit import short_circuit_tier

logger = logging.getLogger(__name__)


@dataclass
class Attachment:
    tiers: list[Tier]
    fetcher: DaemonFetcher
    block_size: int
    client: DaemonClient


def attach(address: str, *, store: str, memory_tiers: list[TierSpec], direct: RangeFetcher,
           counters: CacheCounters, token: str | None = None, fallback: str = "direct",
           short_circuit: bool = True, cafile: str | None = None) -> Attachment | None:
    """Describe the daemon and build the client's tiers and fetcher.

    Returns None when the daemon cannot be reached and ``fallback`` is ``"direct"``
    (the caller then reads the under store itself); raises when it is ``"error"``.
    """
    if fallback not in FALLBACKS:
        raise ValueError(f"daemon_fallback: {fallback!r} is not one of {', '.join(FALLBACKS)}")
    if any(spec.persistent for spec in memory_tiers):
        raise ValueError("tiers: with daemon=..., give at most a memory tier; "
                         "the daemon owns the ssd and disk tiers")
    client = DaemonClient(address, token, cafile=cafile)
    try:
        description = client.describe()
    except DaemonUnavailable:
        if fallback == "error":
            raise
        logger.warning("tierfs daemon at %s is unavailable; reading directly", address)
        return None
    mounts = {m["name"]: m["root"] for m in description["mounts"] if m["store"] == store}
    if not mounts:
        logger.warning("tierfs daemon at %s has no mount for store %s; reading directly",
                       address, store)
    tiers = build_tiers(memory_tiers)
    tiers += _views(address, description, client, token, cafile, short_circuit)
    block_size = int(description["block_size"])
    fetcher = DaemonFetcher(client, mounts, direct, fallback, counters, block_size)
    return Attachment(tiers, fetcher, block_size, client)


def _views(address: str, description: dict, client: DaemonClient, token: str | None,
           cafile: str | None, short_circuit: bool) -> list[Tier]:
    """Read-only views of the daemon's cache: its files, descriptors of them, or HTTP."""
    if short_circuit:
        reporter = HitReporter(client)
        views = [view for tier in description["tiers"]
                 if (view := short_circuit_tier(tier, description["node_id"],
                                                reporter)) is not None]
        if views:
            return views
        if description.get("fd_socket"):
            view = DescriptorTier.if_admitted(description["fd_socket"], description["node_id"],
                                              token, description["tiers"], reporter)
            if view is not None:
                return [view]
    capacity = sum(int(tier["capacity"]) for tier in description["tiers"])
    blocks = HttpBlocks(_data_address(address, description.get("block_port")), token,
                        cafile=cafile, poll_us=description.get("block_poll_us", 0))
    return [HttpBlockTier(TierSpec("ssd", capacity), blocks)]


def _data_address(address: str, block_port: int | None) -> str:
    """Where block ranges are read: the daemon's data port on the host the client reached
    it by, if it has one (over a unix socket: that socket)."""
    parts = urlsplit(address)
    if not block_port or parts.scheme not in ("http", "https"):
        return address
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
    return f"{parts.scheme}://{host}:{block_port}"
