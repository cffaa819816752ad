"""Writing one task's Arrow batches as one file of the chosen format.

The file's schema is the first batch's; a task that receives no batch writes no file.
Parquet and CSV are written by pyarrow, JSON lines by pandas (pyarrow has no JSON writer).
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from tierfs.spark.options import CsvOptions

WRITABLE = ("parquet", "csv", "json")
EXTENSIONS = {"parquet": ".parquet", "csv": ".csv", "json": ".json"}


def write_batches(file, first: pa.RecordBatch, rest: Iterator[pa.RecordBatch], format: str,
                  csv: CsvOptions) -> int:
    """Write ``first`` and ``rest`` into the open binary ``file``; return the rows written."""
    rows = 0
    if format == "json":
        for batch in (first, *rest):
            file.write(batch.to_pandas().to_json(orient="records", lines=True,
                                                 date_format="iso").encode())
            rows += batch.num_rows
        return rows
    if format == "parquet":
        writer = pq.ParquetWriter(file, first.schema)
    else:
        writer = pa_csv.CSVWriter(file, first.schema, write_options=pa_csv.WriteOptions(
            include_header=csv.header, delimiter=csv.delimiter))
    with writer:
        writer.write_batch(first)
        rows += first.num_rows
        for batch in rest:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows
