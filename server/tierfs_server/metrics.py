"""``GET /metrics``: the node's figures in Prometheus text format.

Counters and tier usage are read from the cache at scrape time (a custom collector),
so there is one source of truth; the under-store latency is a histogram observed by
the daemon's fetchers.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

_COUNTERS = {
    "hits": "Block lookups served from a tier",
    "misses": "Block lookups that had to fetch",
    "evictions": "Blocks pushed out of a tier",
    "promotions": "Blocks moved or copied to a faster tier on a hit",
    "demotions": "Blocks moved to a slower tier under pressure",
    "corrupt_blocks": "Cached blocks that failed their checksum and were dropped",
    "under_store_bytes": "Bytes read from the under store",
    "under_store_requests": "Requests sent to the under store",
    "peer_bytes": "Bytes received from peer daemons",
    "peer_requests": "Blocks received from peer daemons",
    "requests": "Block requests served",
    "short_circuit_hits": "Hits clients read from the tier files directly (reported)",
}


class NodeCollector:
    def __init__(self, stats: Callable[[], dict]):
        self._stats = stats

    def collect(self):
        stats = self._stats()
        for name, help_text in _COUNTERS.items():
            yield CounterMetricFamily(f"tierfs_{name}", help_text, value=stats.get(name, 0))
        tier_gauges = {
            "used": GaugeMetricFamily("tierfs_tier_used_bytes", "Bytes used in a tier",
                                      labels=["medium", "level"]),
            "capacity": GaugeMetricFamily("tierfs_tier_capacity_bytes", "Capacity of a tier",
                                          labels=["medium", "level"]),
            "blocks": GaugeMetricFamily("tierfs_tier_blocks", "Blocks held by a tier",
                                        labels=["medium", "level"]),
        }
        for level, tier in enumerate(stats["tiers"]):
            for field, gauge in tier_gauges.items():
                gauge.add_metric([tier["medium"], str(level)], tier[field])
        yield from tier_gauges.values()
        if stats.get("hit_ratio") is not None:
            yield GaugeMetricFamily("tierfs_hit_ratio", "Hits over lookups",
                                    value=stats["hit_ratio"])
        peers_down = sum(peer["down"] for peer in stats.get("peers", []))
        yield GaugeMetricFamily("tierfs_peers_down", "Peers being skipped", value=peers_down)
        shuffle = stats.get("shuffle")
        if shuffle:
            for field in ("pushed_bytes", "pushed_blocks", "served_bytes"):
                yield CounterMetricFamily(f"tierfs_shuffle_{field}",
                                          f"Shuffle {field.replace('_', ' ')}",
                                          value=shuffle.get(f"shuffle_{field}", 0))
            yield GaugeMetricFamily("tierfs_shuffle_used_bytes",
                                    "Bytes of merged shuffle partitions on disk",
                                    value=shuffle["used_bytes"])
            yield GaugeMetricFamily("tierfs_shuffles", "Shuffles held", value=shuffle["shuffles"])
        writeback = stats.get("writeback")
        if writeback:
            for field in ("queued_files", "queued_bytes"):
                if field in writeback:
                    yield GaugeMetricFamily(f"tierfs_writeback_{field}",
                                            f"Write-back {field.replace('_', ' ')}",
                                            value=writeback[field])


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.under_store_latency = Histogram(
            "tierfs_under_store_seconds", "Latency of fetches from the under store",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )

    def watch(self, stats: Callable[[], dict]) -> None:
        self.registry.register(NodeCollector(stats))
