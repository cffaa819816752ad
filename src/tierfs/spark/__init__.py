"""PySpark reads and writes through tierfs: a Python data source named ``tierfs``.

``register(spark)`` once per session, then ``spark.read.format("tierfs").option("format",
"parquet").load("s3://bucket/prefix")`` and ``df.write.format("tierfs")...save(url)``.
Spark reaches object stores here only through Python, so this is also how Spark reads S3.
"""

from __future__ import annotations

from tierfs.spark.source import TierDataSource

# Spark refuses to plan a Python data source that implements pushFilters while this is off
_FILTER_PUSHDOWN = "spark.sql.python.filterPushdown.enabled"


def register(spark) -> None:
    """Register the ``tierfs`` data source in ``spark`` and turn on Python filter pushdown."""
    spark.conf.set(_FILTER_PUSHDOWN, "true")
    spark.dataSource.register(TierDataSource)


__all__ = ["TierDataSource", "register"]
