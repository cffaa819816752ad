"""Dask reads and writes Parquet through ``tierfs::s3://`` on a cluster of spawned workers."""

from __future__ import annotations

import hashlib
import os

import fsspec
import numpy as np
import pandas as pd
import pytest

from tests.engines.helpers_dask import read_in_worker

dd = pytest.importorskip("dask.dataframe", reason="the dask extra is not installed")


def sample_frame() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame({"id": np.arange(40_000), "value": rng.normal(size=40_000),
                         "key": rng.choice(["a", "b", "c"], size=40_000)})


def tierfs_options(tmp_path) -> dict:
    return {"tiers": [{"medium": "memory", "capacity": "64MiB"},
                      {"medium": "ssd", "path": str(tmp_path / "ssd"), "capacity": "256MiB"}],
            "block_size": "256KiB"}


def test_read_parquet_through_tierfs_equals_direct_s3(seaweed, bucket, tmp_path, dask_client):
    options = seaweed.storage_options()
    dd.from_pandas(sample_frame(), npartitions=4).to_parquet(f"s3://{bucket}/table",
                                                             storage_options=options)
    direct = dd.read_parquet(f"s3://{bucket}/table", storage_options=options)
    through = dd.read_parquet(f"tierfs::s3://{bucket}/table",
                              storage_options={"s3": options, "tierfs": tierfs_options(tmp_path)})
    assert through.npartitions == direct.npartitions == 4
    expected = direct.compute()
    pd.testing.assert_frame_equal(through.compute(), expected)
    assert through[through.key == "b"].value.sum().compute() == pytest.approx(
        expected[expected.key == "b"].value.sum())


def test_to_parquet_through_tierfs_equals_direct_s3(seaweed, s3, bucket, tmp_path, dask_client):
    options = seaweed.storage_options()
    frame = dd.from_pandas(sample_frame(), npartitions=4)
    frame.to_parquet(f"tierfs::s3://{bucket}/through",
                     storage_options={"s3": options, "tierfs": tierfs_options(tmp_path)})
    frame.to_parquet(f"s3://{bucket}/direct", storage_options=options)
    written = sorted(p.rsplit("/", 1)[1] for p in s3.ls(f"{bucket}/through"))
    assert written == sorted(p.rsplit("/", 1)[1] for p in s3.ls(f"{bucket}/direct"))
    pd.testing.assert_frame_equal(
        dd.read_parquet(f"s3://{bucket}/through", storage_options=options).compute(),
        dd.read_parquet(f"s3://{bucket}/direct", storage_options=options).compute())


def test_a_pickled_filesystem_rebuilds_its_tiers_in_each_worker(seaweed, s3, bucket, tmp_path,
                                                                 dask_client):
    data = os.urandom(3 * 2**20 + 11)
    s3.pipe(f"{bucket}/blob", data)
    fs = fsspec.filesystem("tierfs", target_protocol="s3", target_options=seaweed.storage_options(),
                           skip_instance_cache=True, **tierfs_options(tmp_path))
    first, second = dask_client.scheduler_info()["workers"]
    cold = dask_client.submit(read_in_worker, fs, f"{bucket}/blob", workers=[first],
                              pure=False).result()
    warm = dask_client.submit(read_in_worker, fs, f"{bucket}/blob", workers=[second],
                              pure=False).result()
    assert cold["pid"] != warm["pid"] and os.getpid() not in (cold["pid"], warm["pid"])
    assert cold["tiers"] == warm["tiers"] == [("memory", None), ("ssd", str(tmp_path / "ssd"))]
    assert cold["sha256"] == warm["sha256"] == hashlib.sha256(data).hexdigest()
    assert cold["under_store_bytes"] == len(data)
    assert warm["under_store_bytes"] == 0  # the other worker's ssd tier, rebuilt from the pickle
