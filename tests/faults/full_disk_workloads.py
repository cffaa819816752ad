"""Workloads that fill their disk, run in a child process by the full-disk tests.

Each takes a ``Disk``, fills it midway, keeps working, frees it, and returns counts for the
test to check: what was served or acknowledged, and what came out wrong or lost.
"""

from __future__ import annotations

import os

import fsspec

from soak.payloads import payload
from tests.faults.helpers_faults import Disk, GatedLocalFileSystem, errno_of
from tierfs.writeback import WriteBackBuffer

MiB = 2**20


def read_through_a_full_tier(disk: Disk, storage_options: dict, objects: dict[str, int],
                             later: str) -> dict:
    """Read ``objects`` through an ssd tier on ``disk`` filled after the first read; then free
    it and read ``later``, which the tier must store again."""
    fs = fsspec.filesystem(
        "tierfs", target_protocol="s3", target_options=storage_options,
        skip_instance_cache=True, block_size=MiB,
        tiers=[{"medium": "memory", "capacity": "2MiB"},
               {"medium": "ssd", "path": f"{disk.path}/ssd", "capacity": "256MiB"}])
    counts = {"reads": 0, "bytes_verified": 0, "wrong_bytes": 0}

    def check(path: str, size: int, start: int = 0, end: int | None = None) -> None:
        expected = payload(path, size)[start:end]
        got = fs.cat_file(path, start, end)
        counts["reads"] += 1
        counts["bytes_verified"] += len(expected)
        counts["wrong_bytes"] += sum(a != b for a, b in zip(got, expected, strict=False))
        counts["wrong_bytes"] += abs(len(got) - len(expected))

    first, *rest = objects.items()
    check(*first)
    disk.fill()
    for _ in range(2):
        for path, size in objects.items():
            check(path, size)
            check(path, size, 1000, size // 2 + 7)
    counts["blocks_while_full"] = _ssd_blocks(fs)
    staging = f"{disk.path}/ssd/staging"
    counts["staged_bytes_left"] = sum(os.path.getsize(f"{staging}/{name}")
                                      for name in os.listdir(staging))
    disk.free()
    check(later, objects[first[0]])
    counts["blocks_after_free"] = _ssd_blocks(fs)
    return counts


def _ssd_blocks(fs) -> int:
    return next(t["blocks"] for t in fs.cache_stats()["tiers"] if t["medium"] == "ssd")


def write_back_onto_a_full_disk(disk: Disk, target_root: str, files: int) -> dict:
    """Write ``files`` files of 100 KiB (every fifth overwrites one path) into a buffer on
    ``disk`` while uploads are held back; the disk fills. Then free it and let uploads go."""
    target = GatedLocalFileSystem(skip_instance_cache=True)
    acknowledged: dict[str, bytes] = {}
    refused: list[int | None] = []
    with WriteBackBuffer(f"{disk.path}/buffer", "8MiB", target, when_full="fail") as buffer:
        for index in range(files):
            if index == 8:
                disk.fill()
            path = f"{target_root}/f{index if index % 5 else 0}"
            data = payload(f"{path}-{index}", 100 * 1024 + index)
            try:
                with buffer.open_write(path) as file:
                    for start in range(0, len(data), 10_000):  # some bytes wait in its buffer
                        file.write(data[start:start + 10_000])
                acknowledged[path] = data
            except OSError as error:
                refused.append(errno_of(error))
        disk.free()  # first: the fallback's file-size limit would hold the uploads back too
        target.gate.set()
        flushed = buffer.wait_flushed(30)
        used_after_flush = buffer.stats()["used_bytes"]
        for index in range(3):  # room again: the buffer acknowledges and uploads again
            path = f"{target_root}/after{index}"
            acknowledged[path] = payload(path, 100 * 1024)
            buffer.pipe(path, acknowledged[path])
        flushed_again = buffer.wait_flushed(30)
    return {"acknowledged": acknowledged, "refused_errnos": refused, "flushed": flushed,
            "flushed_again": flushed_again, "used_after_flush": used_after_flush}


def journal_onto_a_full_disk(disk: Disk, target_root: str) -> dict:
    """Overwrite one path with empty files once the disk is full, until the journal cannot
    grow; then free the disk, let uploads go, and reopen the buffer directory."""
    target = GatedLocalFileSystem(skip_instance_cache=True)
    path = f"{target_root}/keep"
    buffer_dir = f"{disk.path}/buffer"
    refused = None
    acknowledged = b"the first version"
    attempts = 0
    with WriteBackBuffer(buffer_dir, "8MiB", target) as buffer:
        buffer.pipe(path, acknowledged)
        disk.fill()
        while refused is None and attempts < 5000:  # a journal record is ~100 bytes
            attempts += 1
            try:
                buffer.pipe(path, b"")  # an empty blob needs no page: only the journal grows
                acknowledged = b""
            except OSError as error:
                refused = errno_of(error)
        disk.free()
        target.gate.set()
        flushed = buffer.wait_flushed(20)
    with WriteBackBuffer(buffer_dir, "8MiB", target) as reopened:
        pending_after_reopen = reopened.stats()["pending_ops"]
    with open(path, "rb") as uploaded:
        present = uploaded.read()
    return {"attempts": attempts, "refused_errno": refused, "flushed": flushed,
            "pending_after_reopen": pending_after_reopen,
            "acknowledged": acknowledged, "present": present}
