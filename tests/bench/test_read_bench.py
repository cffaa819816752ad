"""``tierfs-bench read`` end to end at a tiny scale, against the session's SeaweedFS."""

from __future__ import annotations

import argparse
import json

from tierfs_bench.cli import main
from tierfs_bench.read import data_spec
from tierfs_bench.read_checks import evaluate_checks
from tierfs_bench.report import Measurement, Report

VARIANTS = {
    "local", "s3fs", "obstore",
    "simplecache cold", "simplecache warm", "filecache cold", "filecache warm",
    "blockcache cold", "blockcache warm",
    "tierfs cold", "tierfs warm mem", "tierfs warm ssd",
}
WORKLOADS = {"sequential", "random", "small-files", "small-cat"}


def test_read_scenario_measures_every_variant_and_workload(seaweed, shared_bucket, tmp_path,
                                                           capsys):
    out = tmp_path / "read.json"
    code = main([
        "read", "--quick", "--small-files", "16", "--random-reads", "32", "--min-time", "0",
        "--endpoint", seaweed.endpoint_url, "--key", seaweed.access_key,
        "--secret", seaweed.secret_key, "--bucket", shared_bucket,
        "--workdir", str(tmp_path / "work"), "--json", str(out),
    ])

    assert code == 0
    payload = json.loads(out.read_text())
    measured = {(m["variant"], m["workload"]) for m in payload["measurements"]}
    assert measured == {(v, w) for v in VARIANTS for w in WORKLOADS}
    for m in payload["measurements"]:
        assert len(m["seconds"]) >= 3 and m["mb_per_s"] > 0, m["variant"]
        assert m["ratios"]["s3fs"] > 0 and m["ratios"]["local"] > 0
    assert not [note for note in payload["notes"] if note.startswith(("FAILED", "WARNING"))]
    assert payload["meta"]["checks"]
    table = capsys.readouterr().out
    assert "tierfs warm ssd" in table and "x s3fs" in table and "x local" in table


def test_scale_shrinks_the_data_set_and_overrides_win():
    parser = argparse.ArgumentParser()
    from tierfs_bench.read import register

    register(parser.add_subparsers())
    args = parser.parse_args(["read", "--scale", "0.25", "--small-size", "4KiB"])

    spec = data_spec(args)

    assert (spec.large_size, spec.small_files, spec.random_reads) == (16 * 2**20, 64, 128)
    assert spec.small_size == 4096 and spec.large_files == 4


def test_cold_check_allows_ten_percent_more_time_than_direct_s3fs():
    report = Report("read")
    report.add(Measurement("s3fs", "sequential", 100, [1.0]))
    report.add(Measurement("tierfs cold", "sequential", 100, [1.1]))
    report.add(Measurement("tierfs warm mem", "small-cat", 100, [1.0]))

    checks = {(c.variant, c.baseline): c for c in evaluate_checks(report)}

    assert checks[("tierfs cold", "s3fs")].passed is True
    assert ("tierfs warm mem", "s3fs") not in checks  # no s3fs row for small-cat: no check
