"""Functions the Dask tests run on spawned workers, in a module so that the workers import it."""

from __future__ import annotations

import hashlib
import os


def read_in_worker(fs, path: str) -> dict:
    """Read ``path`` through ``fs`` (unpickled in this worker); say what the worker built."""
    digest = hashlib.sha256(fs.cat_file(path)).hexdigest()
    stats = fs.cache_stats()
    return {"pid": os.getpid(), "sha256": digest,
            "under_store_bytes": stats["under_store_bytes"],
            "tiers": [(tier["medium"], tier.get("path")) for tier in stats["tiers"]]}
