"""``tierfs-bench engines`` end to end at a tiny size, on the session's SeaweedFS and Spark.

The Spark session is the engine tests' session fixture (starting one takes most of this
test's time), handed to the scenario instead of letting it start its own.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch", reason="the torch extra is not installed")
pytest.importorskip("pyspark", reason="the spark extra is not installed")

from tests.engines.conftest import spark  # noqa: E402, F401 - the session's SparkSession
from tierfs_bench.cli import build_parser  # noqa: E402
from tierfs_bench.engines import DIRECT, ENGINES, VARIANTS, run  # noqa: E402


def test_engines_scenario_measures_every_variant_and_warm_passes_fetch_nothing(
    seaweed, s3, bucket, spark, tmp_path, capsys  # noqa: F811
):
    out = tmp_path / "engines.json"
    args = build_parser().parse_args([
        "engines", "--size", "4MiB", "--shard-size", "1MiB", "--workers", "2",
        "--spark-size", "2MiB", "--runs", "1", "--workdir", str(tmp_path / "work"),
        "--endpoint", seaweed.endpoint_url, "--key", seaweed.access_key,
        "--secret", seaweed.secret_key, "--bucket", bucket, "--json", str(out),
    ])

    assert run(args, spark=spark) == 0

    payload = json.loads(out.read_text())
    rows = {(m["workload"].split()[0], m["variant"]): m for m in payload["measurements"]}
    assert set(rows) == {(engine, variant) for engine in ENGINES for variant in VARIANTS}
    for (engine, variant), row in rows.items():
        assert row["extra"]["verified"] is True, (engine, variant)
        assert len(row["seconds"]) == 1 and row["seconds"][0] > 0, (engine, variant)
        fetched = row["extra"]["fetched"][0]
        if variant == DIRECT:
            assert fetched is None
        elif variant.endswith("warm"):
            assert fetched == 0, (engine, variant)
        elif engine == "torch":
            assert fetched == row["nbytes"], variant  # each shard read once, by one worker
        else:
            assert fetched >= row["nbytes"], variant  # every row group read
    checks = {check["name"]: check for check in payload["meta"]["checks"]}
    assert len(checks) == 6
    fetch_checks = [check for name, check in checks.items() if name.endswith("bytes fetched")]
    assert len(fetch_checks) == 4 and all(check["passed"] for check in fetch_checks)
    assert all(check["value"] > 0 for name, check in checks.items()
               if name.endswith("s / direct s"))  # timed, but not meaningful at this size
    table = capsys.readouterr().out
    assert "fetched MiB" in table and "s / direct" in table and "daemon warm" in table
    assert "PASS  spark: daemon warm query: bytes fetched" in table
    assert not [path for path in s3.find(bucket) if "/engines-data/" in path]  # removed after
