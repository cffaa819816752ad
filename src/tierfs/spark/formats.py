"""Reading each file format: its schema from the first file, its partitions, its batches.

Parquet, CSV and JSON lines go through pyarrow's dataset formats over the tierfs
filesystem (``PyFileSystem(FSSpecHandler(fs))``); text and binary files are read here,
as Spark's ``text`` and ``binaryFile`` sources define them. A format is one class in ``FORMATS``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.dataset as ds
from fsspec import AbstractFileSystem
from pyarrow.fs import FSSpecHandler, PyFileSystem

from tierfs.spark.options import SourceOptions
from tierfs.spark.partitions import FilePartition

_TEXT_BATCH_ROWS = 65536
# the errors pyarrow raises when a filter cannot be applied to a file's statistics (a type
# it cannot compare): the file is then read whole, and Spark still filters its rows
_INAPPLICABLE_FILTER = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError)


def _arrow_fs(fs: AbstractFileSystem) -> PyFileSystem:
    return PyFileSystem(FSSpecHandler(fs))


def _partition(entry: dict, row_group: int | None = None) -> FilePartition:
    return FilePartition(entry["name"], int(entry["size"]), _modified(entry), row_group)


def _modified(entry: dict) -> datetime | None:
    """The modification time an ``info`` answer gives, whichever store it came from."""
    stamp = entry.get("LastModified") or entry.get("mtime") or entry.get("created")
    if isinstance(stamp, int | float):
        return datetime.fromtimestamp(stamp, UTC)
    return stamp


class FileFormat:
    """What every format does alike: it keeps the options and plans one partition per file."""

    def __init__(self, options: SourceOptions):
        self.options = options

    def plan(self, fs, files: list[dict], condition: pc.Expression | None) -> list[FilePartition]:
        return [_partition(entry) for entry in files]


class ArrowDatasetFormat(FileFormat):
    """A format pyarrow's dataset API reads; subclasses say which ``ds.FileFormat``."""

    def file_format(self) -> ds.FileFormat:
        raise NotImplementedError

    def fragment(self, fs, partition: FilePartition) -> ds.Fragment:
        return self.file_format().make_fragment(partition.path, filesystem=_arrow_fs(fs))

    def infer_schema(self, fs, first: dict) -> pa.Schema:
        return self.fragment(fs, _partition(first)).physical_schema

    def read(self, fs, partition: FilePartition, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        """Batches of ``schema``'s columns only: a narrower schema reads fewer columns."""
        batches = self.fragment(fs, partition).to_batches(schema=schema, columns=schema.names)
        for batch in batches:
            yield batch if batch.schema == schema else batch.cast(schema)


class ParquetFormat(ArrowDatasetFormat):
    def file_format(self) -> ds.FileFormat:
        return ds.ParquetFileFormat()

    def fragment(self, fs, partition: FilePartition) -> ds.Fragment:
        groups = None if partition.row_group is None else [partition.row_group]
        return self.file_format().make_fragment(partition.path, filesystem=_arrow_fs(fs),
                                                row_groups=groups)

    def plan(self, fs, files: list[dict], condition: pc.Expression | None) -> list[FilePartition]:
        """One partition per row group whose statistics may satisfy ``condition``."""
        partitions = []
        for entry in files:
            fragment = self.fragment(fs, _partition(entry))
            try:
                groups = fragment.split_by_row_group(condition, schema=fragment.physical_schema)
            except _INAPPLICABLE_FILTER:
                groups = fragment.split_by_row_group()
            partitions += [_partition(entry, group.row_groups[0].id) for group in groups]
        return partitions


class CsvFormat(ArrowDatasetFormat):
    """Spark's rules: ``_c0, _c1, …`` without a header, every column a string unless
    ``inferSchema`` (then pyarrow's inference from the first block of the first file)."""

    def file_format(self, column_names: list[str] | None = None) -> ds.FileFormat:
        csv = self.options.csv
        read = pa_csv.ReadOptions(column_names=column_names,
                                  autogenerate_column_names=not (csv.header or column_names))
        return ds.CsvFileFormat(read_options=read,
                                parse_options=pa_csv.ParseOptions(delimiter=csv.delimiter))

    def fragment(self, fs, partition: FilePartition) -> ds.Fragment:
        fragment = super().fragment(fs, partition)
        if self.options.csv.header:
            return fragment
        names = [f"_c{i}" for i in range(len(fragment.physical_schema))]
        return self.file_format(names).make_fragment(partition.path, filesystem=_arrow_fs(fs))

    def infer_schema(self, fs, first: dict) -> pa.Schema:
        schema = super().infer_schema(fs, first)
        if self.options.csv.infer_schema:
            return schema
        return pa.schema([field.with_type(pa.string()) for field in schema])


class JsonFormat(ArrowDatasetFormat):
    """JSON lines (one object per line), as Spark's ``json`` source reads by default."""

    def file_format(self) -> ds.FileFormat:
        return ds.JsonFileFormat()


class TextFormat(FileFormat):
    """One row per line, in a ``value`` column, line ends removed (``\\n``, ``\\r\\n``, ``\\r``)."""

    schema = pa.schema([("value", pa.string())])

    def infer_schema(self, fs, first: dict) -> pa.Schema:
        return self.schema

    def read(self, fs, partition: FilePartition, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        with fs.open(partition.path, "rb") as raw, io.TextIOWrapper(raw, "utf-8") as text:
            lines = []
            for line in text:  # universal newlines: every line ends in "\n" here
                lines.append(line[:-1] if line.endswith("\n") else line)
                if len(lines) == _TEXT_BATCH_ROWS:
                    yield pa.record_batch([pa.array(lines, pa.string())], schema=schema)
                    lines = []
            if lines:
                yield pa.record_batch([pa.array(lines, pa.string())], schema=schema)


class BinaryFormat(FileFormat):
    """One row per file, as Spark's ``binaryFile``: path, modificationTime, length, content."""

    schema = pa.schema([("path", pa.string()), ("modificationTime", pa.timestamp("us", "UTC")),
                        ("length", pa.int64()), ("content", pa.binary())])

    def infer_schema(self, fs, first: dict) -> pa.Schema:
        return self.schema

    def read(self, fs, partition: FilePartition, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        columns = {"path": self.options.url(partition.path), "modificationTime": partition.modified,
                   "length": partition.size}
        if "content" in schema.names:  # a schema without it reads no bytes at all
            columns["content"] = fs.cat_file(partition.path)
        yield pa.RecordBatch.from_pylist([{name: columns[name] for name in schema.names}],
                                         schema=schema)


FORMATS = {"parquet": ParquetFormat, "csv": CsvFormat, "json": JsonFormat,
           "text": TextFormat, "binary": BinaryFormat}


def format_for(options: SourceOptions) -> FileFormat:
    return FORMATS[options.format](options)
