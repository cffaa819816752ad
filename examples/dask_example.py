"""Dask writes and reads Parquet on S3 through tierfs, on a cluster of worker processes.

The filesystem travels to the workers pickled; each rebuilds its tiers there. Uses
``AWS_ENDPOINT_URL`` (and the AWS key variables) if set, else an embedded SeaweedFS.
Run: ``python examples/dask_example.py``.
"""

from __future__ import annotations

import dask.dataframe as dd
import numpy as np
import pandas as pd
from _store import BUCKET, example_store, example_tiers
from distributed import Client, LocalCluster


def main() -> None:
    with (example_store() as s3, example_tiers() as tiers,
          LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                       dashboard_address=None) as cluster, Client(cluster)):
        options = {"s3": s3, "tierfs": {"tiers": tiers}}
        url = f"tierfs::s3://{BUCKET}/dask-example/readings"
        frame = pd.DataFrame({"sensor": np.arange(20_000) % 4,
                              "value": np.arange(20_000, dtype="float64")})
        dd.from_pandas(frame, npartitions=4).to_parquet(url, storage_options=options)
        means = dd.read_parquet(url, storage_options=options).groupby("sensor").value.mean()
        result = means.compute().sort_index()
        pd.testing.assert_series_equal(result, frame.groupby("sensor").value.mean())
        print(f"ok: Dask read {url} on 2 workers; mean per sensor {result.round(1).tolist()}")


if __name__ == "__main__":
    main()
