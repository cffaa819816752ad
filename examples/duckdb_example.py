"""DuckDB runs SQL over Parquet on S3 through tierfs (``register_filesystem``).

Uses ``AWS_ENDPOINT_URL`` (and the AWS key variables) if set, else an embedded SeaweedFS.
Run: ``python examples/duckdb_example.py``.
"""

from __future__ import annotations

import duckdb
import fsspec
import pandas as pd
from _store import BUCKET, cache_summary, example_store, example_tiers


def main() -> None:
    with example_store() as s3, example_tiers() as tiers:
        fs = fsspec.filesystem("tierfs", target_protocol="s3", target_options=s3, tiers=tiers)
        frame = pd.DataFrame({"city": ["Oslo", "Lima", "Oslo", "Pune"], "temp": [3, 19, 5, 31]})
        with fs.open(f"{BUCKET}/duckdb-example/weather.parquet", "wb") as file:
            frame.to_parquet(file)
        con = duckdb.connect()
        con.register_filesystem(fs)
        rows = con.sql("SELECT city, avg(temp) AS mean FROM read_parquet("
                       f"'tierfs://{BUCKET}/duckdb-example/*.parquet') "
                       "GROUP BY city ORDER BY city").fetchall()
        if rows != [("Lima", 19.0), ("Oslo", 4.0), ("Pune", 31.0)]:
            raise SystemExit(f"unexpected result {rows}")
        print(f"tierfs: {cache_summary(fs)}")
        print(f"ok: DuckDB averaged {len(rows)} cities through tierfs://{BUCKET}")


if __name__ == "__main__":
    main()
