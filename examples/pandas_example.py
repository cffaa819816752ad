"""pandas reads and writes Parquet on S3 through tierfs: only the URL changes.

Uses ``AWS_ENDPOINT_URL`` (and the AWS key variables) if set, else an embedded SeaweedFS.
Run: ``python examples/pandas_example.py``.
"""

from __future__ import annotations

import fsspec
import numpy as np
import pandas as pd
from _store import BUCKET, cache_summary, example_store, example_tiers


def main() -> None:
    with example_store() as s3, example_tiers() as tiers:
        options = {"s3": s3, "tierfs": {"tiers": tiers}}
        url = f"tierfs::s3://{BUCKET}/pandas-example/trips.parquet"
        frame = pd.DataFrame({"trip": np.arange(100_000),
                              "km": np.random.default_rng(0).gamma(2.0, 3.0, 100_000)})
        frame.to_parquet(url, storage_options=options)
        cold = pd.read_parquet(url, storage_options=options)  # fetched, and cached
        warm = pd.read_parquet(url, storage_options=options)  # from the tiers
        pd.testing.assert_frame_equal(cold, frame)
        pd.testing.assert_frame_equal(warm, frame)
        fs, _ = fsspec.core.url_to_fs(url, **options)  # the filesystem pandas used
        print(f"tierfs: {cache_summary(fs)}")
        print(f"ok: pandas read {len(warm)} rows back through {url}")


if __name__ == "__main__":
    main()
