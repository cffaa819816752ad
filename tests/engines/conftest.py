"""Engine fixtures: one SparkSession for the whole session (it takes ~8 s to start).

The JVM is launched with the embedded SeaweedFS's endpoint and keys in the usual AWS
environment variables, so its Python workers see them as a user's would; the test
process's own environment is left as it was.
"""

from __future__ import annotations

import os
import shutil
import sys
from contextlib import contextmanager

import pytest


@contextmanager
def _environment(**variables: str):
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="session")
def spark(seaweed):
    pytest.importorskip("pyspark", reason="the spark extra is not installed")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java (no java on PATH and no JAVA_HOME)")
    from pyspark.sql import SparkSession

    import tierfs.spark

    with _environment(PYSPARK_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1",
                      AWS_ENDPOINT_URL=seaweed.endpoint_url,
                      AWS_ACCESS_KEY_ID=seaweed.access_key,
                      AWS_SECRET_ACCESS_KEY=seaweed.secret_key):
        session = (SparkSession.builder.master("local[2]").appName("tierfs-tests")
                   .config("spark.ui.enabled", "false")
                   .config("spark.driver.host", "127.0.0.1")
                   .config("spark.driver.bindAddress", "127.0.0.1")
                   .config("spark.sql.session.timeZone", "UTC")
                   .config("spark.sql.shuffle.partitions", "2")
                   .config("spark.sql.execution.arrow.pyspark.enabled", "true")
                   .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    tierfs.spark.register(session)
    yield session
    session.stop()
