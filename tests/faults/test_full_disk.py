"""A full disk under a tier directory or the write-back buffer: serve from the store, and
acknowledge nothing that could not be made durable (issue 16, fault injection).

The disk is a small tmpfs (or, where mounting is not allowed, RLIMIT_FSIZE: see
``helpers_faults.small_disk``); the workload runs in a child process of its own.
"""

from __future__ import annotations

from soak.payloads import payload
from tests.faults import full_disk_workloads as workloads
from tests.faults.helpers_faults import FULL_DISK_ERRNOS, run_in_child, small_disk

MiB = 2**20


def test_a_full_tier_directory_serves_exact_bytes_and_stores_again_once_freed(
        seaweed, s3, bucket, tmp_path, reliability):
    objects = {f"{bucket}/obj{i}": 2 * MiB + i for i in range(3)}
    later = f"{bucket}/later"
    for path, size in [*objects.items(), (later, objects[f"{bucket}/obj0"])]:
        s3.pipe(path, payload(path, size))
    with small_disk(tmp_path / "disk", 4) as disk:
        counts = run_in_child(workloads.read_through_a_full_tier, disk,
                              seaweed.storage_options(), objects, later)
    reliability.fault = f"tier directory on a full filesystem ({disk.kind})"
    reliability.injections = 1
    reliability.operations = counts["reads"]
    reliability.bytes_verified = counts["bytes_verified"]
    reliability.wrong_bytes = counts["wrong_bytes"]
    assert counts["wrong_bytes"] == 0 and counts["reads"] == 14
    assert counts["staged_bytes_left"] == 0  # a failed block write leaves nothing behind
    assert counts["blocks_after_free"] > counts["blocks_while_full"]


def test_a_full_buffer_disk_refuses_writes_with_enospc_and_loses_no_acknowledged_one(
        tmp_path, reliability):
    with small_disk(tmp_path / "disk", 2) as disk:
        result = run_in_child(workloads.write_back_onto_a_full_disk, disk,
                              str(tmp_path / "target"), 40)
    acknowledged = result["acknowledged"]
    lost = sum(len(data) for path, data in acknowledged.items()
               if not _same_file(path, data))
    reliability.fault = f"write-back buffer on a full filesystem ({disk.kind})"
    reliability.injections = 1
    reliability.operations = 40 + 3
    reliability.acknowledged_bytes = sum(map(len, acknowledged.values()))
    reliability.bytes_verified = reliability.acknowledged_bytes
    reliability.clean_errors = len(result["refused_errnos"])
    reliability.lost_bytes = lost
    assert result["refused_errnos"], "the disk never filled up"
    assert set(result["refused_errnos"]) <= set(FULL_DISK_ERRNOS), result["refused_errnos"]
    assert result["flushed"] and result["flushed_again"]
    assert result["used_after_flush"] == 0  # refused writes hold no room of the buffer
    assert lost == 0


def test_a_journal_append_on_a_full_disk_acknowledges_nothing_and_the_journal_recovers(
        tmp_path, reliability):
    with small_disk(tmp_path / "disk", 2) as disk:
        result = run_in_child(workloads.journal_onto_a_full_disk, disk, str(tmp_path / "target"))
    reliability.fault = f"write-back journal on a full filesystem ({disk.kind})"
    reliability.injections = 1
    reliability.operations = result["attempts"]
    reliability.acknowledged_bytes = len(result["acknowledged"])
    reliability.bytes_verified = len(result["present"])
    reliability.clean_errors = int(result["refused_errno"] is not None)
    reliability.lost_bytes = int(result["present"] != result["acknowledged"]) * max(
        len(result["acknowledged"]), 1)
    assert result["refused_errno"] in FULL_DISK_ERRNOS, result
    assert result["flushed"], "an acknowledged write stayed unuploaded"
    assert result["pending_after_reopen"] == 0
    assert result["present"] == result["acknowledged"]


def _same_file(path: str, data: bytes) -> bool:
    try:
        with open(path, "rb") as file:
            return file.read() == data
    except FileNotFoundError:
        return False
