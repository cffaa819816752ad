"""DuckDB and pyarrow read Parquet through tierfs over the embedded SeaweedFS.

DuckDB takes tierfs as a registered fsspec filesystem (``tierfs://`` URLs) and asks it for
``modified``, ``info`` and ranged reads; pyarrow takes it through ``FSSpecHandler``. Every
answer is compared with the same data read straight from S3.
"""

from __future__ import annotations

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from pyarrow.fs import FSSpecHandler, PyFileSystem

duckdb = pytest.importorskip("duckdb", reason="the duckdb extra is not installed")

QUERY = "SELECT city, count(*) AS n, sum(amount) AS total FROM read_parquet('{url}') " \
        "GROUP BY city ORDER BY city"


def sales(rows: int, seed: int) -> pa.Table:
    cities = ["Lyon", "Oslo", "Pune", "Quito"]
    return pa.table({
        "city": [cities[(i * 7 + seed) % len(cities)] for i in range(rows)],
        "amount": [float((i * 31 + seed) % 997) for i in range(rows)],
        "year": [2020 + (i + seed) % 3 for i in range(rows)],
    })


def pandas_answer(frame: pd.DataFrame) -> pd.DataFrame:
    grouped = frame.groupby("city").agg(n=("amount", "size"), total=("amount", "sum"))
    return grouped.reset_index().sort_values("city").reset_index(drop=True)


@pytest.fixture
def tierfs_over_s3(seaweed, tmp_path):
    """tierfs over the embedded S3, made per test: ``tierfs_over_s3(**options)``."""
    made = []

    def make(**options):
        fs = fsspec.filesystem(
            "tierfs", target_protocol="s3", skip_instance_cache=True,
            target_options=seaweed.storage_options() | {"skip_instance_cache": True},
            tiers=[{"medium": "memory", "capacity": "16MiB"},
                   {"medium": "disk", "path": str(tmp_path / f"disk{len(made)}"),
                    "capacity": "64MiB"}],
            block_size="256KiB", **options)
        made.append(fs)
        return fs

    yield make
    for fs in made:
        fs.close()


def test_duckdb_sql_over_tierfs_equals_pandas_over_s3(tierfs_over_s3, s3, bucket, seaweed):
    for part in range(2):
        with s3.open(f"{bucket}/sales/part-{part}.parquet", "wb") as f:
            pq.write_table(sales(2000, part), f, row_group_size=500)
    con = duckdb.connect()
    con.register_filesystem(tierfs_over_s3())

    got = con.sql(QUERY.format(url=f"tierfs://{bucket}/sales/*.parquet")).df()

    expected = pandas_answer(pd.read_parquet(f"s3://{bucket}/sales/",
                                             storage_options=seaweed.storage_options()))
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_duckdb_reads_a_file_written_through_the_write_back_buffer(tierfs_over_s3, bucket,
                                                                   tmp_path):
    fs = tierfs_over_s3(write_mode="back", buffer_dir=str(tmp_path / "buffer"))
    table = sales(1000, 3)
    with fs.open(f"{bucket}/buffered.parquet", "wb") as f:
        pq.write_table(table, f)
    con = duckdb.connect()
    con.register_filesystem(fs)

    got = con.sql(QUERY.format(url=f"tierfs://{bucket}/buffered.parquet")).df()

    pd.testing.assert_frame_equal(got, pandas_answer(table.to_pandas()), check_dtype=False)
    assert fs.wait_flushed(30)


def test_metadata_methods_engines_call_answer_like_the_under_store(tierfs_over_s3, s3, bucket,
                                                                    tmp_path):
    s3.pipe(f"{bucket}/a.bin", b"x" * 1000)
    fs = tierfs_over_s3(write_mode="back", buffer_dir=str(tmp_path / "buffer"))
    fs.pipe(f"{bucket}/buffered.bin", b"y" * 10)

    assert fs.modified(f"{bucket}/a.bin") == s3.modified(f"{bucket}/a.bin")
    assert fs.modified(f"{bucket}/buffered.bin").tzinfo is not None
    assert fs.sizes([f"{bucket}/a.bin", f"{bucket}/buffered.bin"]) == [1000, 10]
    assert fs.size(f"tierfs://{bucket}/a.bin") == 1000
    assert fs.ukey(f"{bucket}/a.bin") == fs.ukey(f"{bucket}/a.bin")
    assert isinstance(fs.checksum(f"{bucket}/a.bin"), int)
    with pytest.raises(FileNotFoundError):
        fs.modified(f"{bucket}/missing.bin")
    assert fs.wait_flushed(30)


def test_pyarrow_dataset_over_hive_partitions_equals_direct_s3(tierfs_over_s3, s3, bucket):
    pq.write_to_dataset(sales(3000, 1), f"{bucket}/hive", partition_cols=["year"],
                        filesystem=PyFileSystem(FSSpecHandler(s3)))
    through = PyFileSystem(FSSpecHandler(tierfs_over_s3()))
    direct = PyFileSystem(FSSpecHandler(s3))

    def read(filesystem) -> pa.Table:
        dataset = ds.dataset(f"{bucket}/hive", filesystem=filesystem, format="parquet",
                             partitioning="hive")
        table = dataset.to_table(filter=ds.field("year") >= 2021)
        return table.sort_by([("year", "ascending"), ("city", "ascending"),
                              ("amount", "ascending")])

    got, expected = read(through), read(direct)
    assert got.num_rows == 2000
    assert got.equals(expected)
