"""The Spark query of ``tierfs-bench engines``: an aggregation over Parquet files in the store.

Spark reaches S3 here only through Python data sources (no hadoop-aws jar): tierfs's own
(``tierfs_ledger``, which also counts fetched bytes) or the same formats over plain s3fs
(``s3_direct``). Every answer is checked against the aggregates computed while writing.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tierfs_bench.engines_spark_sources import LEDGER, DirectSource, LedgerTierSource, ledger_total
from tierfs_bench.engines_store import Access, PassResult, Store

KINDS = 100
_BYTES_PER_ROW = 13  # id, value and a dictionary-coded kind, as pyarrow writes them: sizes files
_FILE_SIZE = 32 * 2**20
_ROW_GROUPS_PER_FILE = 4
# plain s3fs reads ahead 50 MiB from every read by default, which for one row group per
# task means most of the file again; exact ranged reads are the fair direct baseline
DIRECT_S3FS_OPTIONS = {"default_cache_type": "none"}


@contextmanager
def spark_session() -> Iterator[object]:
    """A local[2] session bound to 127.0.0.1, its Python workers on this interpreter."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = (SparkSession.builder.master("local[2]").appName("tierfs-bench-engines")
               .config("spark.ui.enabled", "false")
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "2").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()


def register_sources(spark) -> None:
    import tierfs.spark

    tierfs.spark.register(spark)  # also turns on the filter pushdown Python sources need
    spark.dataSource.register(LedgerTierSource)
    spark.dataSource.register(DirectSource)


class SparkQuery:
    """Parquet files written once; ``run`` times ``groupBy(kind)`` with count, sum and max,
    from ``load`` (schema and planning) to the collected rows."""

    def __init__(self, spark, store: Store, size: int, seed: int = 0):
        register_sources(spark)
        self.spark = spark
        self.store = store
        self.url = f"s3://{store.data}/spark"
        rows = max(KINDS * _ROW_GROUPS_PER_FILE, size // _BYTES_PER_ROW)
        files = max(1, math.ceil(size / _FILE_SIZE))
        self.expected, self.nbytes = _write(store, self.url, rows, files, seed)
        self.workload = (f"spark groupBy over {self.nbytes / 2**20:,.0f} MiB parquet, {files} "
                         f"files x {_ROW_GROUPS_PER_FILE} row groups, local[2]")

    def run(self, access: Access) -> PassResult:
        from pyspark.sql import functions as F

        with tempfile.TemporaryDirectory(prefix="tierfs-bench-ledger-") as ledger:
            if access.tierfs is None:
                source = DirectSource.name()
                options = {"target_options": json.dumps(self.store.options | DIRECT_S3FS_OPTIONS)}
            else:
                source = LedgerTierSource.name()
                options = {"target_options": json.dumps(self.store.options), LEDGER: ledger}
                options |= {name: value if isinstance(value, str) else json.dumps(value)
                            for name, value in access.tierfs.items()}
            started = time.perf_counter()
            frame = (self.spark.read.format(source).option("format", "parquet")
                     .options(**options).load(self.url))
            rows = (frame.groupBy("kind").agg(F.count("*").alias("rows"),
                                              F.sum("value").alias("total"),
                                              F.max("id").alias("last")).collect())
            seconds = time.perf_counter() - started
            fetched = None if access.tierfs is None else ledger_total(Path(ledger))
        return PassResult(seconds, fetched, self._problems(rows))

    def _problems(self, rows) -> list[str]:
        got = {row["kind"]: (row["rows"], row["total"], row["last"]) for row in rows}
        wrong = sorted(kind for kind, (count, total, last) in self.expected.items()
                       if kind not in got or got[kind][0] != count or got[kind][2] != last
                       or not math.isclose(got[kind][1], total, rel_tol=1e-9))
        extra = sorted(set(got) - set(self.expected))
        if wrong or extra:
            return [f"aggregates wrong for kinds {(wrong + extra)[:5]}"]
        return []


def _write(store: Store, url: str, rows: int, files: int, seed: int
           ) -> tuple[dict[int, tuple[int, float, int]], int]:
    """``files`` Parquet files of (id, kind, value); returns the aggregates per kind and the
    bytes written."""
    s3 = fsspec.filesystem("s3", **store.options)
    counts, totals, lasts = np.zeros(KINDS, np.int64), np.zeros(KINDS), np.zeros(KINDS, np.int64)
    bounds = np.linspace(0, rows, files + 1, dtype=np.int64)
    for index, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        ids = np.arange(start, stop, dtype=np.int64)
        kinds = (ids % KINDS).astype(np.int32)
        values = np.random.default_rng([seed, index]).random(len(ids))
        table = pa.table({"id": ids, "kind": kinds, "value": values})
        with s3.open(f"{url}/part-{index:05d}.parquet", "wb") as file:
            pq.write_table(table, file, row_group_size=-(-len(ids) // _ROW_GROUPS_PER_FILE))
        counts += np.bincount(kinds, minlength=KINDS)
        totals += np.bincount(kinds, weights=values, minlength=KINDS)
        np.maximum.at(lasts, kinds, ids)
    expected = {kind: (int(counts[kind]), float(totals[kind]), int(lasts[kind]))
                for kind in range(KINDS) if counts[kind]}
    return expected, int(sum(s3.du(url, total=False).values()))
