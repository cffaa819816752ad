"""``tierfs-bench shuffle`` end to end at a tiny size, every mode, on the session's cluster."""

from __future__ import annotations

import json

from tierfs_bench.cli import main
from tierfs_bench.report import Measurement, Report
from tierfs_bench.shuffle_checks import evaluate_targets
from tierfs_bench.shuffle_data import RecordRange, make_records, problems, summarize
from tierfs_bench.shuffle_modes import MODES


def test_shuffle_scenario_sorts_and_verifies_through_every_mode(dask_client, seaweed,
                                                               shared_bucket, tmp_path, capsys):
    out = tmp_path / "shuffle.json"
    code = main([
        "shuffle", "--size", "3MiB", "--partition-size", "1MiB", "--runs", "1",
        "--scheduler", dask_client.scheduler.address, "--workdir", str(tmp_path / "work"),
        "--endpoint", seaweed.endpoint_url, "--key", seaweed.access_key,
        "--secret", seaweed.secret_key, "--bucket", f"{shared_bucket}/shuffle-bench",
        "--json", str(out),
    ])

    assert code == 0
    payload = json.loads(out.read_text())
    assert not payload["meta"]["unavailable"] and not payload["meta"]["failed"]
    rows = {m["variant"]: m for m in payload["measurements"]}
    assert set(rows) == set(MODES)
    for name, row in rows.items():
        assert row["extra"]["verified"] is True, name
        assert row["mb_per_s"] > 0 and len(row["extra"]["peak_rss"][0]) == 2, name
    for name in ("local", "daemon", "s3", "tierfs::s3"):
        assert rows[name]["extra"]["stored_bytes"][0] > 0, name
    for name, row in rows.items():  # the serving process's CPU: the bench's own daemon only
        assert row["extra"]["worker_cpu"][0] > 0, name  # (the store is --endpoint's, not ours)
        assert (row["extra"]["service_cpu"][0] is None) == (name != "daemon"), name
    assert rows["daemon"]["extra"]["service_cpu"][0] > 0
    assert payload["meta"]["records"] == 3 * 2**20 // 100
    assert len(payload["meta"]["targets"]) == 4
    floor = payload["meta"]["upload_floor"]
    assert floor["objects"] == 3 and floor["writers"] == 2 and floor["seconds"] > 0
    assert floor["bytes"] == rows["s3"]["extra"]["stored_bytes"][0] // 3 * 3
    table = capsys.readouterr().out
    assert "x p2p" in table and "tierfs::s3" in table and "peak RSS" in table
    assert "CPU s workers + service" in table


def test_records_are_the_same_for_the_same_seed_and_range_whatever_the_job():
    first = make_records(RecordRange(7, 100, 300, job="a"))
    again = make_records(RecordRange(7, 100, 300, job="b"))

    assert len(first) == 200 and first.equals(again)
    assert first.dtypes.map(lambda d: d.itemsize).sum() == 100  # a 100-byte record


def test_verification_names_lost_records_and_unsorted_partitions():
    frame = make_records(RecordRange(1, 0, 1000)).sort_values("key")
    left, right = frame.iloc[:500], frame.iloc[500:]
    expected = (1000, summarize(frame).checksum)

    assert problems([summarize(left), summarize(right)], expected) == []
    found = problems([summarize(right), summarize(left.iloc[1:])], expected)
    assert "999 records" in found[0] and "checksum" in found[1]
    assert "boundaries out of order" in found[2]
    assert "not sorted" in problems([summarize(frame.iloc[::-1])], expected)[0]


def test_targets_compare_the_fastest_tierfs_mode_with_p2p_and_tasks():
    report = Report("shuffle")
    for name, seconds, rss in (("local", 1.0, 100), ("s3", 1.5, 90), ("p2p", 1.2, 120),
                               ("tasks", 2.0, 80)):
        report.add(Measurement(name, "terasort", 10**9, [seconds],
                               extra={"peak_rss": [[rss, rss // 2]]}))

    targets = {t.name: t for t in evaluate_targets(report)}

    assert targets["best tierfs mode (local) MB/s / p2p MB/s"].passed is True
    assert targets["best tierfs mode (local) peak worker RSS / p2p's"].value == 100 / 120
    assert targets["s3 seconds / local seconds"].value == 1.5
