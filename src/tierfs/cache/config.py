"""Tier configuration: what users write in ``tiers=[...]``, validated into ``TierSpec`` values.

Every bad setting raises ``ValueError`` naming the key (``tiers[1].capacity``), never an
``assert``. Defaults live in ``DEFAULTS`` so the whole behaviour is visible in one table.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tierfs.cache.eviction import EVICTION_POLICIES
from tierfs.cache.tuning import TUNING
from tierfs.sizes import parse_size

MEDIA = ("memory", "ssd", "disk")  # fastest first: tiers are sorted by this order

DEFAULTS = {
    "block_size": 4 * 2**20,
    "memory_capacity": "512MiB",
    "disk_capacity": "10GiB",
    "eviction": "lru",
    "metadata_ttl": 10.0,  # seconds an info/ls answer may be reused; 0 = always ask, -1 = forever
    "fetch_concurrency": TUNING.fetch_concurrency,  # concurrent ranged requests to the store
    "prefetch_blocks": 8,  # largest read-ahead window of a sequential reader, in blocks
    "cold_fetcher": "auto",  # missing blocks: obstore where the store is s3, else the target's
}


@dataclass(frozen=True)
class TierSpec:
    """One tier: a medium, where it lives (none for memory), a hard byte capacity, a policy."""

    medium: str
    capacity: int
    path: str | None = None
    eviction: str = DEFAULTS["eviction"]

    @property
    def persistent(self) -> bool:
        return self.medium != "memory"


def default_cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tierfs"


def default_tiers() -> list[dict]:
    """An in-process memory tier plus a disk tier under the user's cache directory."""
    return [
        {"medium": "memory", "capacity": DEFAULTS["memory_capacity"]},
        {"medium": "disk", "path": str(default_cache_root() / "disk"),
         "capacity": DEFAULTS["disk_capacity"]},
    ]


def parse_tiers(tiers: list[dict] | None) -> list[TierSpec]:
    """Validate ``tiers`` and return them fastest first; tier directories are created here."""
    if tiers is None:
        tiers = default_tiers()
    if not isinstance(tiers, list | tuple) or not tiers:
        raise ValueError(f"tiers: expected a non-empty list of tier dicts, got {tiers!r}")
    specs = [_parse_tier(tier, f"tiers[{index}]") for index, tier in enumerate(tiers)]
    if sum(spec.medium == "memory" for spec in specs) > 1:
        raise ValueError("tiers: at most one memory tier is allowed")
    paths = [spec.path for spec in specs if spec.path is not None]
    if len(set(paths)) != len(paths):
        raise ValueError("tiers: two tiers share one path; give each tier its own directory")
    return sorted(specs, key=lambda spec: MEDIA.index(spec.medium))


def _parse_tier(tier: dict, name: str) -> TierSpec:
    if not isinstance(tier, dict):
        raise ValueError(f"{name}: expected a dict with 'medium' and 'capacity', got {tier!r}")
    unknown = set(tier) - {"medium", "path", "capacity", "eviction"}
    if unknown:
        raise ValueError(f"{name}: unknown setting(s) {sorted(unknown)}")
    medium = tier.get("medium")
    if medium not in MEDIA:
        raise ValueError(f"{name}.medium: {medium!r} is not one of {', '.join(MEDIA)}")
    if "capacity" not in tier:
        raise ValueError(f"{name}.capacity: required (e.g. '2GiB')")
    capacity = parse_size(tier["capacity"], f"{name}.capacity")
    eviction = tier.get("eviction", DEFAULTS["eviction"])
    if eviction not in EVICTION_POLICIES:
        raise ValueError(
            f"{name}.eviction: {eviction!r} is not one of {', '.join(EVICTION_POLICIES)}"
        )
    path = tier.get("path")
    if medium == "memory":
        if path is not None:
            raise ValueError(f"{name}.path: a memory tier has no path")
        return TierSpec(medium, capacity, None, eviction)
    if path is None:
        path = tempfile.mkdtemp(prefix=f"tierfs-{medium}-")
    return TierSpec(medium, capacity, _writable_directory(path, f"{name}.path"), eviction)


def _writable_directory(path: str | os.PathLike, name: str) -> str:
    """Create ``path`` if needed and prove it is writable by writing a file in it."""
    directory = Path(path).expanduser()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=directory, prefix=".probe-")
        probe.close()
    except OSError as error:
        raise ValueError(f"{name}: {str(directory)!r} is not a writable directory ({error})") \
            from error
    return str(directory.resolve())
