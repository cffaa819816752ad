"""Metrics parse as Prometheus text, the status page shows real figures in a browser."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from prometheus_client.parser import text_string_to_metric_families

from tests.daemon.test_daemon_reads import MiB, daemon_fs


def test_metrics_parse_with_prometheus_client(seaweed, s3, bucket, start_daemon):
    daemon = start_daemon()
    s3.pipe(f"{bucket}/f", os.urandom(3 * MiB))
    fs = daemon_fs(seaweed, daemon.url, short_circuit=False)
    fs.cat_file(f"{bucket}/f")
    fs.cat_file(f"{bucket}/f")
    status, body = daemon.get("/metrics")
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    value = {name: family.samples[0].value for name, family in families.items()
             if family.samples}
    assert value["tierfs_under_store_bytes"] == 3 * MiB
    assert value["tierfs_hits"] >= 3 and value["tierfs_misses"] == 3
    used = {s.labels["medium"]: s.value for s in families["tierfs_tier_used_bytes"].samples}
    assert used["ssd"] > 3 * MiB
    latency = families["tierfs_under_store_seconds"]
    assert any(s.name.endswith("_count") and s.value >= 1 for s in latency.samples)


def test_the_status_page_renders_the_tier_table_in_headless_chromium(seaweed, s3, bucket,
                                                                    start_daemon, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "chromium is required: make test installs it (apt-get install chromium)"
    daemon = start_daemon()
    s3.pipe(f"{bucket}/hot.bin", os.urandom(2 * MiB))
    daemon_fs(seaweed, daemon.url, short_circuit=False).cat_file(f"{bucket}/hot.bin")
    result = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         daemon.url + "/"],
        capture_output=True, text=True, timeout=120,
    )
    dom = result.stdout
    assert '<table id="tiers">' in dom, result.stderr[-2000:]
    tiers_table = dom.split('<table id="tiers">')[1].split("</table>")[0]
    assert "memory" in tiers_table and "ssd" in tiers_table
    assert "2.0 MiB" in tiers_table  # the real figure: two 1 MiB blocks on the ssd tier
    assert "hot.bin" in dom and "Hit ratio" in dom


def test_tierfs_stats_prints_the_daemon_figures(start_daemon):
    daemon = start_daemon()
    result = subprocess.run([sys.executable, "-m", "tierfs", "stats", "--daemon", daemon.url],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "hit ratio" in result.stdout and "ssd" in result.stdout
