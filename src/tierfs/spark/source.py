"""The ``tierfs`` Python data source: options in, a reader or a writer out.

Both run ``parse_options`` on the driver; the reader and writer carry the parsed
options to the executors, where each worker builds (and keeps) its tierfs filesystem.
"""

from __future__ import annotations

from functools import cached_property

from pyspark.sql.datasource import DataSource, DataSourceReader, DataSourceWriter
from pyspark.sql.pandas.types import from_arrow_schema
from pyspark.sql.types import StructType

from tierfs.spark.commit import has_data
from tierfs.spark.filesystem import data_files, filesystem_for
from tierfs.spark.formats import format_for
from tierfs.spark.options import SourceOptions, parse_options
from tierfs.spark.output import WRITABLE
from tierfs.spark.reader import TierReader
from tierfs.spark.writer import IgnoringWriter, TierWriter


class TierDataSource(DataSource):
    @classmethod
    def name(cls) -> str:
        return "tierfs"

    @cached_property
    def parsed(self) -> SourceOptions:
        return parse_options(self.options)

    def schema(self) -> StructType:
        """The first data file's schema, as Spark's file sources infer it without merging."""
        fs = filesystem_for(self.parsed)
        first = data_files(fs, self.parsed.path)[0]
        return from_arrow_schema(format_for(self.parsed).infer_schema(fs, first))

    def reader(self, schema: StructType) -> DataSourceReader:
        return TierReader(self.parsed, schema)

    def writer(self, schema: StructType, overwrite: bool) -> DataSourceWriter:
        options = self.parsed
        if options.format not in WRITABLE:
            raise ValueError(f"format: {options.format!r} cannot be written; "
                             f"writes support {', '.join(WRITABLE)}")
        if overwrite and options.save_mode != "append":
            raise ValueError(f"save_mode: {options.save_mode!r} goes with .mode('append'), "
                             "not with .mode('overwrite')")
        if options.save_mode != "append" and has_data(filesystem_for(options), options.path):
            if options.save_mode == "errorifexists":
                raise FileExistsError(f"{options.url(options.path)}: already holds data "
                                      "(save_mode='errorifexists')")
            return IgnoringWriter()
        return TierWriter(options, overwrite)
