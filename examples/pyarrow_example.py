"""pyarrow datasets over a Hive-partitioned layout on S3, read through tierfs.

Uses ``AWS_ENDPOINT_URL`` (and the AWS key variables) if set, else an embedded SeaweedFS.
Run: ``python examples/pyarrow_example.py``.
"""

from __future__ import annotations

import fsspec
import pyarrow as pa
import pyarrow.dataset as ds
from _store import BUCKET, cache_summary, example_store, example_tiers
from pyarrow.fs import FSSpecHandler, PyFileSystem


def main() -> None:
    with example_store() as s3, example_tiers() as tiers:
        fs = fsspec.filesystem("tierfs", target_protocol="s3", target_options=s3, tiers=tiers)
        arrow_fs = PyFileSystem(FSSpecHandler(fs))
        root = f"{BUCKET}/pyarrow-example/sales"
        table = pa.table({"year": [2024, 2024, 2025, 2025, 2025],
                          "amount": [10.0, 20.0, 5.0, 7.5, 2.5]})
        ds.write_dataset(table, root, filesystem=arrow_fs, format="parquet",
                         partitioning=["year"], partitioning_flavor="hive",
                         existing_data_behavior="overwrite_or_ignore")
        dataset = ds.dataset(root, filesystem=arrow_fs, format="parquet", partitioning="hive")
        total = dataset.to_table(filter=ds.field("year") == 2025)["amount"].to_pylist()
        if sorted(total) != [2.5, 5.0, 7.5]:
            raise SystemExit(f"expected the 2025 amounts [2.5, 5.0, 7.5], got {total}")
        print(f"tierfs: {cache_summary(fs)}")
        print(f"ok: pyarrow read the year=2025 partition of {root}: {sum(total)} in total")


if __name__ == "__main__":
    main()
