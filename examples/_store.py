"""Where the examples keep their data (a helper module, not an example).

The S3 endpoint in ``AWS_ENDPOINT_URL`` (keys in ``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY``) if set, else an embedded SeaweedFS started for the run; and a
tier list whose ssd tier lives in a temporary directory, so a run leaves nothing behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import fsspec

from tierfs.embedded import EmbeddedS3

BUCKET = os.environ.get("TIERFS_EXAMPLE_BUCKET", "tierfs-examples")


@contextmanager
def example_store() -> Iterator[dict]:
    """s3fs options for the run's store, with ``BUCKET`` created in it."""
    if os.environ.get("AWS_ENDPOINT_URL"):
        options: dict = {}  # s3fs reads the AWS_* variables itself
        fsspec.filesystem("s3").makedirs(BUCKET, exist_ok=True)
        yield options
        return
    with EmbeddedS3() as server:
        server.create_bucket(BUCKET)
        yield server.storage_options()


@contextmanager
def example_tiers(memory: str = "256MiB", ssd: str = "1GiB") -> Iterator[list[dict]]:
    """A memory tier and an ssd tier in a temporary directory removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="tierfs-example-") as directory:
        yield [{"medium": "memory", "capacity": memory},
               {"medium": "ssd", "path": directory, "capacity": ssd}]


def cache_summary(fs) -> str:
    """What the cache did; ``cache_stats`` also waits for blocks still being written to the
    ssd tier, so call it before the tier's temporary directory goes away."""
    stats = fs.cache_stats()
    return (f"{stats['under_store_bytes']} bytes fetched from the store, "
            f"{stats['hits']} block hits, {stats['misses']} misses")
