"""``tierfs-bench daemon``'s parts: the fill, the clients' byte checks, rotation and checks."""

from __future__ import annotations

import threading
from collections import Counter

import fsspec

from tierfs_bench.daemon_clients import ClientResult, Job, _timed_reads
from tierfs_bench.daemon_load import (
    BASELINE,
    HTTP,
    SHORT_CIRCUIT,
    checks,
    fill_like_the_daemon,
    record,
    rotated,
    write_random_file,
)
from tierfs_bench.report import Report

MiB = 2**20


def _target(seaweed) -> dict:
    return {"target_protocol": "s3", "target_options": seaweed.storage_options()}


def test_the_fill_leaves_every_block_in_the_ssd_tier(seaweed, s3, bucket, tmp_path):
    path = f"{bucket}/warm.bin"
    write_random_file(s3, path, tmp_path / "reference", 3 * MiB)

    fill_like_the_daemon(_target(seaweed), tmp_path / "ssd", path)

    fs = fsspec.filesystem("tierfs", skip_instance_cache=True, **_target(seaweed),
                           tiers=[{"medium": "ssd", "path": str(tmp_path / "ssd"),
                                   "capacity": "1GiB"}])
    assert fs.cat_file(path) == (tmp_path / "reference").read_bytes()
    assert fs.cache_stats()["under_store_bytes"] == 0


def _read(seaweed, path: str, reference, tmp_path, size: int = 2 * MiB) -> ClientResult:
    options = _target(seaweed) | {"tiers": [{"medium": "ssd", "path": str(tmp_path / "c"),
                                             "capacity": "1GiB"}]}
    return _timed_reads(options, path, str(reference), Job("sequential", None, MiB, size),
                        seed=1, run_as=None, barrier=threading.Barrier(1))


def test_a_client_counts_reads_whose_bytes_differ_from_the_reference(seaweed, s3, bucket,
                                                                     tmp_path):
    path, reference = f"{bucket}/warm.bin", tmp_path / "reference"
    write_random_file(s3, path, reference, 2 * MiB)
    assert _read(seaweed, path, reference, tmp_path).wrong == 0

    data = bytearray(reference.read_bytes())
    data[MiB + 7] ^= 0xFF  # one byte of the second read
    reference.write_bytes(bytes(data))

    result = _read(seaweed, path, reference, tmp_path)
    assert (result.wrong, result.errors, len(result.latencies)) == (1, 0, 2)


def test_a_client_reports_what_its_own_filesystem_fetched(seaweed, s3, bucket, tmp_path):
    path, reference = f"{bucket}/cold.bin", tmp_path / "reference"
    write_random_file(s3, path, reference, 10 * MiB)

    result = _read(seaweed, path, reference, tmp_path, size=10 * MiB)

    # cold: opening fetched the first block and the read before the clock the last one,
    # so the timed reads fetch the middle one (4 MiB blocks)
    assert result.under_store_bytes >= 4 * MiB and result.wrong == 0


def test_every_variant_goes_first_equally_often():
    names = [BASELINE, SHORT_CIRCUIT, HTTP]

    firsts = Counter(rotated(names, turn)[0] for turn in range(9))

    assert firsts == dict.fromkeys(names, 3)
    assert sorted(rotated(names, 4)) == sorted(names)


def _result(wrong=0, fetched=0) -> ClientResult:
    return ClientResult(0.0, 1.0, [0.001, 0.002], 0, wrong, fetched)


def test_checks_fail_on_wrong_bytes_fetches_and_a_missed_threshold():
    report = Report("daemon")
    record(report, BASELINE, "w", 100, 1.0, [_result()], 0)
    record(report, SHORT_CIRCUIT, "w", 100, 2.0, [_result(wrong=1)], 0)  # 0.5x in-process
    record(report, HTTP, "w", 100, 1.0, [_result(fetched=4096)], 0)

    verdicts = {c["name"]: c["passed"] for c in checks(report)}

    assert verdicts[f"{BASELINE}, w: every byte as stored"] is True
    assert verdicts[f"{SHORT_CIRCUIT}, w: every byte as stored"] is False
    assert verdicts[f"{SHORT_CIRCUIT}, w: MB/s / in-process >= 0.8"] is False
    assert verdicts[f"{HTTP}, w: warm reads fetch 0 bytes"] is False
    assert verdicts[f"{HTTP}, w: MB/s / in-process (reported)"] is None


def test_http_has_the_issue_s_floors_for_one_client_and_is_reported_for_many():
    report = Report("daemon")
    for clients, kind, http_seconds in ((1, "random", 4.0), (1, "sequential", 1.9),
                                        (16, "random", 10.0)):
        workload = f"{clients} x {kind}"
        results = [_result()] * clients
        record(report, BASELINE, workload, 100, 1.0, results, 0, kind)
        record(report, HTTP, workload, 100, http_seconds, results, 0, kind)

    verdicts = {c["name"]: c["passed"] for c in checks(report)}

    assert verdicts[f"{HTTP}, 1 x random: MB/s / in-process >= 0.3"] is False  # 0.25x
    assert verdicts[f"{HTTP}, 1 x sequential: MB/s / in-process >= 0.5"] is True  # 0.53x
    assert verdicts[f"{HTTP}, 16 x random: MB/s / in-process (reported)"] is None
