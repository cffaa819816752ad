"""What one Spark input partition reads: a whole file, or one row group of a Parquet file.

Partitions are pickled from the driver to the executors, so they carry the file's size
and version along with its path: a worker then opens the file without asking the store.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql.datasource import InputPartition


@dataclass(frozen=True)
class FilePartition(InputPartition):
    path: str
    size: int
    modified: object = None  # a datetime, for the binary format's modificationTime
    row_group: int | None = None
