"""``tierfs-bench writecache --quick`` runs every variant end to end and writes its reports."""

from __future__ import annotations

import json

from tierfs_bench.cli import main


def test_writecache_benchmark_reports_every_variant(seaweed, tmp_path, capsys):
    report_path = tmp_path / "writecache.json"
    exit_code = main([
        "writecache", "--quick", "--json", str(report_path), "--plot", str(tmp_path / "plots"),
        "--endpoint", seaweed.endpoint_url, "--key", seaweed.access_key,
        "--secret", seaweed.secret_key, "--bucket", "tierfs-tests",
    ])
    assert exit_code == 0
    table = capsys.readouterr().out
    assert "device model" in table and "disk-class" in table
    report = json.loads(report_path.read_text())
    rows = {(m["variant"], m["workload"]): m for m in report["measurements"]}
    for variant in ("write-back", "all-ssd", "all-disk", "seaweedfs"):
        for workload in ("large files, ack", "small files, durable", "all files, ack"):
            assert rows[(variant, workload)]["mb_per_s"] > 0
    assert {check["check"] for check in report["meta"]["checks"]} >= {
        "write-back all files, ack >= 0.8x all-ssd", "write-back all files, ack >= 2.0x all-disk",
    }
    # the disk model's 8 ms per request dominates; write-back acknowledges far sooner
    assert rows[("write-back", "all files, ack")]["ratios"]["all-disk"] > 2
    assert len(list((tmp_path / "plots").glob("*.png"))) == 8  # with the sustained run
