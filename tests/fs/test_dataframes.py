"""pandas and pyarrow read Parquet through ``tierfs::s3://`` exactly as they read it directly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from pyarrow.fs import FSSpecHandler, PyFileSystem


def sample_table() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({
        "id": np.arange(200_000),
        "value": rng.normal(size=200_000),
        "label": rng.choice(["cat", "dog", "eel"], size=200_000),
    })


def test_pandas_reads_parquet_through_tierfs_as_directly(seaweed, s3, bucket, tmp_path):
    frame = sample_table()
    options = seaweed.storage_options()
    frame.to_parquet(f"s3://{bucket}/table.parquet", storage_options=options,
                     row_group_size=50_000)
    direct = pd.read_parquet(f"s3://{bucket}/table.parquet", storage_options=options)
    tier_options = {"tiers": [{"medium": "memory", "capacity": "64MiB"},
                              {"medium": "ssd", "path": str(tmp_path), "capacity": "1GiB"}],
                    "block_size": 256 * 2**10}
    through = pd.read_parquet(f"tierfs::s3://{bucket}/table.parquet",
                              storage_options={"s3": options, "tierfs": tier_options})
    pd.testing.assert_frame_equal(through, direct)
    pd.testing.assert_frame_equal(through, frame)


def test_pyarrow_reads_parquet_through_a_tierfs_handler(seaweed, s3, bucket):
    import fsspec

    frame = sample_table()
    options = seaweed.storage_options()
    frame.to_parquet(f"s3://{bucket}/table.parquet", storage_options=options)
    fs = fsspec.filesystem("tierfs", target_protocol="s3", target_options=options,
                           tiers=[{"medium": "memory", "capacity": "64MiB"}],
                           skip_instance_cache=True)
    arrow_fs = PyFileSystem(FSSpecHandler(fs))
    table = pq.read_table(f"{bucket}/table.parquet", filesystem=arrow_fs)
    direct = pq.read_table(f"{bucket}/table.parquet",
                           filesystem=PyFileSystem(FSSpecHandler(s3)))
    assert table.equals(direct)
    assert fs.cache_stats()["under_store_bytes"] <= s3.info(f"{bucket}/table.parquet")["size"]
