"""PySpark reads and writes S3 through tierfs: the ``tierfs`` Python data source.

Uses the S3 endpoint in ``AWS_ENDPOINT_URL`` (with ``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY``) if set, else starts an embedded SeaweedFS for the run.
Run: ``python examples/spark_example.py`` (about 20 s, most of it starting Spark).
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import ExitStack

from pyspark.sql import SparkSession

import tierfs.spark
from tierfs.embedded import EmbeddedS3

BUCKET = os.environ.get("TIERFS_EXAMPLE_BUCKET", "tierfs-examples")
TIERS = json.dumps([{"medium": "memory", "capacity": "256MiB"}])


def s3_options(stack: ExitStack) -> dict:
    """The data source's S3 options: from the environment, or an embedded SeaweedFS."""
    if os.environ.get("AWS_ENDPOINT_URL"):
        return {}  # the data source reads the AWS_* variables itself
    server = stack.enter_context(EmbeddedS3())
    server.create_bucket(BUCKET)
    return {"endpoint_url": server.endpoint_url, "key": server.access_key,
            "secret": server.secret_key}


def main() -> None:
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    with ExitStack() as stack:
        options = {**s3_options(stack), "tiers": TIERS, "format": "parquet"}
        spark = (SparkSession.builder.master("local[2]").appName("tierfs-example")
                 .config("spark.ui.enabled", "false")
                 .config("spark.driver.host", "127.0.0.1")
                 .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate())
        stack.callback(spark.stop)
        spark.sparkContext.setLogLevel("ERROR")
        tierfs.spark.register(spark)

        url = f"s3://{BUCKET}/spark-example/events"
        events = spark.range(10_000).selectExpr("id", "id % 10 AS kind", "id * 0.5 AS value")
        events.write.format("tierfs").options(**options).mode("overwrite").save(url)

        loaded = spark.read.format("tierfs").options(**options).load(url)
        rows, total = loaded.where("kind = 3").selectExpr("count(*)", "sum(value)").first()
        expected = (1000, sum(i * 0.5 for i in range(3, 10_000, 10)))
        print(f"read {url} back: {rows} rows of kind 3, summing to {total}")
        if (rows, total) != expected:
            raise SystemExit(f"expected {expected}, got {(rows, total)}")


if __name__ == "__main__":
    main()
