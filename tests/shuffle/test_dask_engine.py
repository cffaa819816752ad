"""Dask as the shuffle engine on a real LocalCluster: same rows as Dask's own shuffle."""

from __future__ import annotations

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from tests.shuffle.dask_helpers import MARKER, RegisterKillOnce, register
from tierfs.shuffle import dask as tierfs_dask


def _frame(rows: int = 20_000) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame({"key": rng.integers(0, 500, rows), "value": rng.random(rows),
                         "label": rng.choice(["a", "bb", "ccc"], rows)})


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["key", "value"]).reset_index(drop=True)


def _service(open_backend, name: str, tmp_path, seaweed, bucket, shuffle_daemon):
    if name == "local":
        return f"local://{tmp_path}/dask-shuffle", {}
    if name == "s3":
        return f"s3://{bucket}/dask-shuffle", seaweed.storage_options()
    return shuffle_daemon.url, {}


@pytest.mark.parametrize("name", ["local", "s3", "daemon"])
def test_shuffle_through_the_service_holds_dasks_rows_each_key_once(
        dask_client, open_backend, name, tmp_path, seaweed, bucket, shuffle_daemon):
    frame = _frame()
    ddf = dd.from_pandas(frame, npartitions=6)
    url, options = _service(open_backend, name, tmp_path, seaweed, bucket, shuffle_daemon)
    shuffled = tierfs_dask.shuffle(ddf, "key", service=url, npartitions=4,
                                   storage_options=options)
    parts = dask.compute(*shuffled.to_delayed())
    assert len(parts) == 4
    key_sets = [set(part["key"]) for part in parts]
    assert sum(map(len, key_sets)) == len(set().union(*key_sets))  # each key in one partition
    together = pd.concat(parts)
    reference = ddf.shuffle("key").compute()
    pd.testing.assert_frame_equal(together.sort_index(), reference.sort_index())


def test_sort_values_sorts_globally(dask_client, tmp_path):
    frame = _frame()
    ddf = dd.from_pandas(frame, npartitions=5)
    result = tierfs_dask.sort_values(ddf, "value", service=f"local://{tmp_path}/sort",
                                     npartitions=3)
    parts = dask.compute(*result.to_delayed())
    assert all(part["value"].is_monotonic_increasing for part in parts)
    edges = [(p["value"].iloc[0], p["value"].iloc[-1]) for p in parts if len(p)]
    assert all(a[1] <= b[0] for a, b in zip(edges, edges[1:], strict=False))
    pd.testing.assert_frame_equal(_sorted(pd.concat(parts)), _sorted(ddf.compute()))


def test_a_map_task_killed_mid_write_is_retried_and_the_result_is_exact(dask_client, tmp_path):
    register()
    dask_client.register_plugin(RegisterKillOnce(), name="tierfs-killonce")
    frame = _frame()
    ddf = dd.from_pandas(frame, npartitions=4)
    result = tierfs_dask.shuffle(ddf, "key", service=f"killonce://{tmp_path}/killed/root",
                                 npartitions=3, storage_options={"auto_mkdir": True})
    got = result.compute()
    assert (tmp_path / "killed" / MARKER).exists(), "no map task was killed"
    pd.testing.assert_frame_equal(_sorted(got), _sorted(ddf.compute()))


def test_bad_arguments_fail_before_any_task_runs(tmp_path):
    ddf = dd.from_pandas(_frame(100), npartitions=2)
    with pytest.raises(ValueError, match="not in the DataFrame"):
        tierfs_dask.shuffle(ddf, "nope", service=f"local://{tmp_path}")
    with pytest.raises(ValueError, match="npartitions"):
        tierfs_dask.shuffle(ddf, "key", service=f"local://{tmp_path}", npartitions=0)
    with pytest.raises(ValueError, match="unknown scheme"):
        tierfs_dask.shuffle(ddf, "key", service="gopher://x")
