"""PySpark through the ``tierfs`` Python data source, against the embedded SeaweedFS.

Every read is compared with the same files read by pandas (sorted, since Spark's row order
is its own). Options are unit-tested without Spark; everything else runs the real engine.
"""

from __future__ import annotations

import json

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("pyspark", reason="the spark extra is not installed")

from pyspark.errors import PySparkException  # noqa: E402
from pyspark.sql.functions import udf  # noqa: E402

from tierfs.spark.options import parse_options  # noqa: E402

ROWS_PER_GROUP = 10000


def frame(start: int, count: int) -> pd.DataFrame:
    ids = range(start, start + count)
    return pd.DataFrame({"id": list(ids), "name": [f"n{i % 7}" for i in ids],
                         "score": [i / 4 for i in ids]})


def same_rows(spark_frame, expected: pd.DataFrame, key: str = "id") -> None:
    got = spark_frame.toPandas().sort_values(key).reset_index(drop=True)
    expected = expected.sort_values(key).reset_index(drop=True)
    assert list(got.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def tiers_option(tmp_path, medium: str = "memory") -> str:
    tier = {"medium": medium, "capacity": "256MiB"}
    if medium != "memory":
        tier["path"] = str(tmp_path / f"tier-{medium}")
    return json.dumps([tier])


@pytest.fixture
def reader(spark, tmp_path):
    """``spark.read`` of the tierfs source with a private memory tier; credentials from env."""
    def make(fmt: str = "parquet", **options):
        read = spark.read.format("tierfs").option("format", fmt)
        return read.option("tiers", tiers_option(tmp_path)).options(**options)
    return make


@pytest.fixture
def parquet_dataset(s3, bucket):
    """Two Parquet files of three row groups each; returns (url, the rows)."""
    parts = [frame(0, 3 * ROWS_PER_GROUP), frame(3 * ROWS_PER_GROUP, 3 * ROWS_PER_GROUP)]
    for index, part in enumerate(parts):
        with s3.open(f"{bucket}/parquet/part-{index}.parquet", "wb") as f:
            pq.write_table(pa.Table.from_pandas(part, preserve_index=False), f,
                           row_group_size=ROWS_PER_GROUP)
    s3.pipe(f"{bucket}/parquet/_SUCCESS", b"")  # not data: skipped as Spark skips it
    return f"s3://{bucket}/parquet", pd.concat(parts)


# -- options (no Spark) --

def test_bad_options_raise_value_error_naming_the_option():
    cases = {"block_size": {"block_size": "lots"}, "format": {"format": "avro"},
             "tiers": {"tiers": "[not json"}, "target_options": {"target_options": "[1]"},
             "write_mode": {"write_mode": "sideways"}, "header": {"header": "maybe"},
             "endpont_url": {"endpont_url": "http://x"}}
    for name, options in cases.items():
        with pytest.raises(ValueError, match=name):
            parse_options({"path": "s3://b/p", **options}, environ={})


def test_credentials_come_from_aws_environment_unless_given():
    environ = {"AWS_ACCESS_KEY_ID": "env-key", "AWS_SECRET_ACCESS_KEY": "env-secret",
               "AWS_ENDPOINT_URL": "http://127.0.0.1:1"}
    parsed = parse_options({"path": "s3://b/p", "key": "mine"}, environ=environ)
    assert parsed.target_protocol == "s3" and parsed.path == "b/p"
    assert parsed.target_options == {"key": "mine", "secret": "env-secret",
                                     "endpoint_url": "http://127.0.0.1:1"}


def test_bad_option_fails_the_spark_read_with_its_name(reader, parquet_dataset):
    url, _ = parquet_dataset
    with pytest.raises(PySparkException, match="block_size"):
        reader(block_size="lots").load(url).collect()


# -- reads --

def test_parquet_read_equals_pandas_with_one_partition_per_row_group(reader, parquet_dataset):
    url, expected = parquet_dataset
    df = reader().load(url)
    assert df.rdd.getNumPartitions() == 6
    same_rows(df, expected)


def test_parquet_schema_comes_from_the_file_metadata(reader, parquet_dataset):
    url, _ = parquet_dataset
    schema = reader().load(url).schema
    assert [(f.name, f.dataType.simpleString()) for f in schema] == [
        ("id", "bigint"), ("name", "string"), ("score", "double")]


def test_explicit_credentials_are_used(reader, parquet_dataset, seaweed):
    url, expected = parquet_dataset
    good = reader(endpoint_url=seaweed.endpoint_url, key=seaweed.access_key,
                  secret=seaweed.secret_key)
    same_rows(good.load(url), expected)
    with pytest.raises(PySparkException):
        reader(key=seaweed.access_key, secret="wrong").load(url).collect()


def test_csv_with_header_and_infer_schema_equals_pandas(reader, s3, bucket):
    expected = pd.concat([frame(0, 50), frame(50, 50)])
    s3.pipe(f"{bucket}/csv/a.csv", frame(0, 50).to_csv(index=False).encode())
    s3.pipe(f"{bucket}/csv/b.csv", frame(50, 50).to_csv(index=False).encode())
    df = reader("csv", header="true", inferSchema="true").load(f"s3://{bucket}/csv")
    assert df.rdd.getNumPartitions() == 2
    assert [f.dataType.simpleString() for f in df.schema] == ["bigint", "string", "double"]
    same_rows(df, expected)


def test_csv_without_header_reads_strings_named_like_spark(reader, s3, bucket):
    s3.pipe(f"{bucket}/plain.csv", frame(0, 20).to_csv(index=False, header=False).encode())
    df = reader("csv").load(f"s3://{bucket}/plain.csv")
    expected = pd.read_csv(f"s3://{bucket}/plain.csv", header=None, dtype=str,
                           storage_options=s3.storage_options)
    expected.columns = ["_c0", "_c1", "_c2"]
    assert [f.dataType.simpleString() for f in df.schema] == ["string"] * 3
    same_rows(df, expected, key="_c0")


def test_json_lines_read_equals_pandas(reader, s3, bucket):
    data = frame(0, 80)
    s3.pipe(f"{bucket}/json/a.json", data.to_json(orient="records", lines=True).encode())
    df = reader("json").load(f"s3://{bucket}/json")
    expected = pd.read_json(f"s3://{bucket}/json/a.json", lines=True,
                            storage_options=s3.storage_options)
    same_rows(df, expected)


def test_text_read_gives_one_row_per_line(reader, s3, bucket):
    s3.pipe(f"{bucket}/text/a.txt", b"alpha\nbeta\r\ngamma")
    s3.pipe(f"{bucket}/text/b.txt", b"delta\n\nepsilon\n")
    df = reader("text").load(f"s3://{bucket}/text")
    expected = pd.concat([pd.read_csv(f"s3://{bucket}/text/{name}", header=None, names=["value"],
                                      skip_blank_lines=False, keep_default_na=False,
                                      storage_options=s3.storage_options)
                          for name in ("a.txt", "b.txt")])
    same_rows(df, expected, key="value")


def test_binary_read_matches_spark_binary_file(reader, s3, bucket):
    payloads = {f"{bucket}/bin/{i}.bin": bytes([i]) * (1000 + i) for i in range(3)}
    s3.pipe(payloads)
    df = reader("binary").load(f"s3://{bucket}/bin")
    assert [f.name for f in df.schema] == ["path", "modificationTime", "length", "content"]
    got = df.toPandas().sort_values("path").reset_index(drop=True)
    expected = pd.DataFrame({"path": [f"s3://{p}" for p in payloads],
                             "length": [len(v) for v in payloads.values()],
                             "content": list(payloads.values())})
    pd.testing.assert_frame_equal(got[["path", "length", "content"]], expected,
                                  check_dtype=False)
    assert got["modificationTime"].notna().all()


# -- pushdown and pruning: measured in bytes the workers fetched into a shared ssd tier --

def cached_bytes(tier_dir, seaweed) -> int:
    """Bytes the Spark workers left in the ssd tier at ``tier_dir`` (the tier is shared)."""
    fs = fsspec.filesystem("tierfs", target_protocol="s3", skip_instance_cache=True,
                           target_options=seaweed.storage_options(),
                           tiers=[{"medium": "ssd", "path": str(tier_dir),
                                   "capacity": "256MiB"}])
    return sum(tier["used"] for tier in fs.cache_stats()["tiers"])


def read_through_ssd(spark, tier_dir, url):
    return (spark.read.format("tierfs").option("format", "parquet").option("block_size", "8KiB")
            .option("tiers", json.dumps([{"medium": "ssd", "path": str(tier_dir),
                                          "capacity": "256MiB"}])))


def test_filter_pushdown_skips_row_groups(spark, parquet_dataset, tmp_path, seaweed):
    url, expected = parquet_dataset
    full = read_through_ssd(spark, tmp_path / "full", url).load(url)
    same_rows(full, expected)
    filtered = read_through_ssd(spark, tmp_path / "filtered", url).load(url).where("id >= 59000")
    assert filtered.rdd.getNumPartitions() == 1  # the last row group only
    same_rows(filtered, expected[expected.id >= 59000])
    assert cached_bytes(tmp_path / "filtered", seaweed) < cached_bytes(tmp_path / "full",
                                                                       seaweed) / 2


def test_a_narrower_schema_reads_fewer_columns(spark, parquet_dataset, tmp_path, seaweed):
    url, expected = parquet_dataset
    read_through_ssd(spark, tmp_path / "full", url).load(url).collect()
    narrow = read_through_ssd(spark, tmp_path / "narrow", url).schema("id bigint").load(url)
    same_rows(narrow, expected[["id"]])
    assert cached_bytes(tmp_path / "narrow", seaweed) < cached_bytes(tmp_path / "full", seaweed)


# -- writes --

def written(s3, url: str) -> pd.DataFrame:
    """What pandas reads at ``url`` (pyarrow's discovery skips ``_SUCCESS`` as Spark does)."""
    return pd.read_parquet(url, storage_options=s3.storage_options)


def writer(df, tmp_path, **options):
    write = df.write.format("tierfs").option("format", "parquet")
    return write.option("tiers", tiers_option(tmp_path)).options(**options)


def test_append_and_overwrite_commit_through_staging(spark, s3, bucket, tmp_path):
    url = f"s3://{bucket}/out"
    first, second = frame(0, 500), frame(500, 300)
    writer(spark.createDataFrame(first).repartition(2), tmp_path).mode("append").save(url)
    names = sorted(p.rsplit("/", 1)[1] for p in s3.find(f"{bucket}/out"))
    assert names[0] == "_SUCCESS" and len(names) == 3  # the marker and two tasks' files
    writer(spark.createDataFrame(second), tmp_path).mode("append").save(url)
    pd.testing.assert_frame_equal(written(s3, url).sort_values("id").reset_index(drop=True),
                                  pd.concat([first, second]).reset_index(drop=True),
                                  check_dtype=False)
    writer(spark.createDataFrame(second), tmp_path).mode("overwrite").save(url)
    same_rows(spark.read.format("tierfs").load(url), second)
    assert not any("_temporary" in p for p in s3.find(f"{bucket}/out"))


def test_errorifexists_and_ignore_save_modes(spark, s3, bucket, tmp_path):
    url = f"s3://{bucket}/modes"
    data = spark.createDataFrame(frame(0, 100))
    with pytest.raises(PySparkException, match="UNSUPPORTED_DATA_SOURCE_SAVE_MODE"):
        writer(data, tmp_path).save(url)  # Spark 4.3 itself refuses ErrorIfExists and Ignore
    writer(data, tmp_path, save_mode="errorifexists").mode("append").save(url)  # new: written
    with pytest.raises(PySparkException, match="already holds data"):
        writer(data, tmp_path, save_mode="errorifexists").mode("append").save(url)
    more = spark.createDataFrame(frame(100, 50))
    writer(more, tmp_path, save_mode="ignore").mode("append").save(url)
    same_rows(spark.read.format("tierfs").load(url), frame(0, 100))


def test_an_aborted_job_leaves_nothing(spark, s3, bucket, tmp_path):
    def fail(value):  # a local function: Spark pickles it by value for its workers
        raise RuntimeError("deliberate task failure")

    fail_on_every_row = udf(fail, "long")
    url = f"s3://{bucket}/aborted"
    failing = spark.createDataFrame(frame(0, 200)).repartition(2).withColumn(
        "boom", fail_on_every_row("id"))
    with pytest.raises(PySparkException, match="deliberate task failure"):
        writer(failing, tmp_path).mode("append").save(url)
    assert s3.find(f"{bucket}/aborted") == []


def test_write_back_mode_writes_reach_the_store(spark, s3, bucket, tmp_path):
    url = f"s3://{bucket}/back"
    data = frame(0, 400)
    writer(spark.createDataFrame(data).repartition(2), tmp_path, write_mode="back",
           buffer_dir=str(tmp_path / "buffer")).mode("append").save(url)
    pd.testing.assert_frame_equal(written(s3, url).sort_values("id").reset_index(drop=True),
                                  data, check_dtype=False)
    assert not any("_temporary" in p for p in s3.find(f"{bucket}/back"))


def test_ecfs_target_round_trip(spark, seaweed, bucket, tmp_path):
    targets = {"targets": [f"s3://{bucket}/node{i}" for i in range(6)],
               "target_options": seaweed.storage_options(), "cell_size": 4096}
    url = "ecfs://tables/ec"
    data = frame(0, 3000)
    writer(spark.createDataFrame(data).repartition(2), tmp_path,
           target_options=json.dumps(targets)).mode("append").save(url)
    ec = fsspec.filesystem("ecfs", skip_instance_cache=True, **targets)
    assert sorted(p.rsplit("/", 1)[1] for p in ec.find("tables/ec"))[0] == "_SUCCESS"
    with ec.open(next(p for p in ec.find("tables/ec") if p.endswith(".parquet")), "rb") as f:
        assert pq.read_metadata(f).num_rows in (1500, 3000)
    expected = pd.read_parquet("tables/ec", filesystem=ec)
    read = (spark.read.format("tierfs").option("target_options", json.dumps(targets))
            .option("tiers", tiers_option(tmp_path)).load(url))
    same_rows(read, expected)
    same_rows(read, data)
