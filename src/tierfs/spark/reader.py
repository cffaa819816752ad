"""The read side: partitions planned on the driver, Arrow batches produced in the workers.

Spark 4.3's Python data source API pushes filters (``pushFilters``) but not columns: a
Parquet row group whose statistics rule a filter out is never planned, and a schema given
with ``.schema(...)`` that names fewer columns than the files hold reads only those.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
from pyspark.sql.datasource import DataSourceReader, Filter
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import StructType

from tierfs.spark.filesystem import data_files, filesystem_for
from tierfs.spark.filters import conjunction, to_expression
from tierfs.spark.formats import format_for
from tierfs.spark.options import SourceOptions
from tierfs.spark.partitions import FilePartition


class TierReader(DataSourceReader):
    def __init__(self, options: SourceOptions, schema: StructType):
        self.options = options
        self.schema = schema
        self.filters: list[Filter] = []  # translatable filters, for row-group skipping

    def pushFilters(self, filters: list[Filter]) -> Iterator[Filter]:
        """Keep what can skip row groups, and hand every filter back: Spark checks the rows."""
        columns = set(self.schema.fieldNames())
        for spark_filter in filters:
            if to_expression(spark_filter, columns) is not None:
                self.filters.append(spark_filter)
            yield spark_filter

    def partitions(self) -> list[FilePartition]:
        fs = filesystem_for(self.options)
        condition = conjunction(self.filters, set(self.schema.fieldNames()))
        return format_for(self.options).plan(fs, data_files(fs, self.options.path), condition)

    def read(self, partition: FilePartition) -> Iterator[pa.RecordBatch]:
        schema = to_arrow_schema(self.schema, timezone="UTC")
        fs = filesystem_for(self.options)
        yield from format_for(self.options).read(fs, partition, schema)
