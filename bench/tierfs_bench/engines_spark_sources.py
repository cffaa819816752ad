"""The two Spark data sources of ``tierfs-bench engines``, in a module Spark's workers import.

``tierfs_ledger`` is tierfs's own data source (``format("tierfs")``) reading exactly as it
does; around each call it also appends its process's count of bytes fetched from the store
to the ledger directory named by the option ``ledger``, so the bench can sum what every
planner and reader process fetched. ``s3_direct`` runs the same planning and reading code
(``tierfs.spark.formats``) over a plain s3fs filesystem: Spark without tierfs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import fsspec
import pyarrow as pa
from pyspark.sql.datasource import DataSource, DataSourceReader
from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema
from pyspark.sql.types import StructType

from tierfs.spark.filesystem import data_files, filesystem_for
from tierfs.spark.formats import format_for
from tierfs.spark.options import SourceOptions, parse_options
from tierfs.spark.partitions import FilePartition
from tierfs.spark.reader import TierReader
from tierfs.spark.source import TierDataSource

LEDGER = "ledger"


@contextmanager
def _ledger_entry(ledger: str, options: SourceOptions) -> Iterator[None]:
    """Record this process's fetched-bytes count before and after the enclosed call.

    ``cache_stats`` waits until fetched blocks are in the tiers, so another worker of the
    next query finds them there."""
    fs = filesystem_for(options)
    start = fs.cache_stats()["under_store_bytes"]
    yield
    end = fs.cache_stats()["under_store_bytes"]
    with open(os.path.join(ledger, f"{os.getpid()}.jsonl"), "a") as file:
        file.write(json.dumps({"start": start, "end": end}) + "\n")


def ledger_total(ledger: Path) -> int:
    """Bytes the processes of one pass fetched: per process, its last count minus its first."""
    total = 0
    for path in ledger.glob("*.jsonl"):
        entries = [json.loads(line) for line in path.read_text().splitlines()]
        total += max(e["end"] for e in entries) - min(e["start"] for e in entries)
    return total


class LedgerTierSource(TierDataSource):
    @classmethod
    def name(cls) -> str:
        return "tierfs_ledger"

    @cached_property
    def parsed(self) -> SourceOptions:
        return parse_options({k: v for k, v in self.options.items() if k.lower() != LEDGER})

    @cached_property
    def ledger(self) -> str:
        return next(v for k, v in self.options.items() if k.lower() == LEDGER)

    def schema(self) -> StructType:
        with _ledger_entry(self.ledger, self.parsed):
            return super().schema()

    def reader(self, schema: StructType) -> DataSourceReader:
        return LedgerTierReader(self.parsed, schema, self.ledger)


class LedgerTierReader(TierReader):
    def __init__(self, options: SourceOptions, schema: StructType, ledger: str):
        super().__init__(options, schema)
        self.ledger = ledger

    def partitions(self) -> list[FilePartition]:
        with _ledger_entry(self.ledger, self.options):
            return super().partitions()

    def read(self, partition: FilePartition) -> Iterator[pa.RecordBatch]:
        with _ledger_entry(self.ledger, self.options):
            yield from super().read(partition)


def _s3fs(options: SourceOptions) -> fsspec.AbstractFileSystem:
    return fsspec.filesystem(options.target_protocol, **options.target_options)


class DirectSource(DataSource):
    """tierfs's options and formats, with s3fs (``target_options``) in place of tierfs."""

    @classmethod
    def name(cls) -> str:
        return "s3_direct"

    @cached_property
    def parsed(self) -> SourceOptions:
        return parse_options(self.options)

    def schema(self) -> StructType:
        fs = _s3fs(self.parsed)
        first = data_files(fs, self.parsed.path)[0]
        return from_arrow_schema(format_for(self.parsed).infer_schema(fs, first))

    def reader(self, schema: StructType) -> DataSourceReader:
        return DirectReader(self.parsed, schema)


class DirectReader(DataSourceReader):
    def __init__(self, options: SourceOptions, schema: StructType):
        self.options = options
        self.schema = schema

    def partitions(self) -> list[FilePartition]:
        fs = _s3fs(self.options)
        return format_for(self.options).plan(fs, data_files(fs, self.options.path), None)

    def read(self, partition: FilePartition) -> Iterator[pa.RecordBatch]:
        schema = to_arrow_schema(self.schema, timezone="UTC")
        yield from format_for(self.options).read(_s3fs(self.options), partition, schema)
