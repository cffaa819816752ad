"""``tierfs-bench writecache``'s model: what the write-back buffer is charged, and its runs."""

from __future__ import annotations

import argparse

from tierfs_bench.device_model import HDD_7200RPM, SATA_SSD
from tierfs_bench.writecache import _data_sets, sensitivity
from tierfs_bench.writecache_variants import Setup, write_back

KiB, MiB = 2**10, 2**20


def _setup(tmp_path, capacity: int = 64 * MiB) -> Setup:
    return Setup(ssd=SATA_SSD, disk=HDD_7200RPM, buffer_root=tmp_path / "buffers",
                 target_root=tmp_path / "targets", writers=2, buffer_capacity=capacity,
                 upload_workers=2, s3=None, bucket="unused")


def test_the_ssd_model_is_charged_for_the_uploaders_reads_fsyncs_and_unlinks(tmp_path):
    files = [(f"f{i}", bytes([i]) * (64 * KiB)) for i in range(5)]

    timing = write_back(_setup(tmp_path), files)

    # written once by the writers, read once by the uploader
    assert timing.ssd_bytes == 2 * 5 * 64 * KiB
    # per file: bytes + journal record (writer), read + done record + unlink (uploader);
    # plus one request for the first batch of blob names
    assert timing.ssd_requests == 5 * 5 + 1


def test_the_sustained_run_writes_more_than_its_buffer_holds():
    args = argparse.Namespace(large_size=MiB, small_size=KiB, large_files=1, small_files=2,
                              sustained_buffer=8 * MiB, sustained_factor=3)

    data_sets, buffers = _data_sets(args)

    (name, capacity), = buffers.items()
    assert capacity == 8 * MiB
    assert sum(len(data) for _, data in data_sets[name]) == 24 * MiB
    assert set(data_sets) == {"large files", "small files", name}


def test_a_write_through_a_full_buffer_is_acknowledged_at_upload_speed(tmp_path):
    files = [(f"f{i}", bytes(MiB)) for i in range(8)]

    timing = write_back(_setup(tmp_path, capacity=2 * MiB), files)

    # 8 MiB through a 2 MiB buffer to a 160 MB/s disk: at least 6 MiB wait for uploads
    assert timing.ack_s >= 6 * MiB / HDD_7200RPM.bandwidth


def test_sensitivity_runs_the_default_disk_model_and_four_around_it(tmp_path):
    rows = sensitivity(_setup(tmp_path), [(f"f{i}", bytes(4 * KiB)) for i in range(3)])

    assert [row["default"] for row in rows] == [True, False, False, False, False]
    assert len({row["disk_model"] for row in rows}) == 5
    assert all(row["ack_ratio"] > 0 and row["durable_ratio"] > 0 for row in rows)
