"""A path removed while its upload is in flight stays removed once both have landed."""

from __future__ import annotations

import time

import fsspec


def test_a_file_removed_while_its_upload_is_in_flight_is_gone_after_both_land(target, tmp_path):
    target.put_delay = 0.5  # the upload is still in flight when the remove is acknowledged
    fs = fsspec.filesystem("tierfs", fs=target, write_mode="back", skip_instance_cache=True,
                           buffer_dir=str(tmp_path / "buffer"),
                           tiers=[{"medium": "memory", "capacity": "4MiB"}])
    path = f"{target.root}/file"
    fs.pipe(path, b"uploaded, then removed")
    deadline = time.monotonic() + 10
    while ("put", path) not in target.applied:
        assert time.monotonic() < deadline, "the upload never started"
        time.sleep(0.01)

    fs.rm(path)

    assert fs.wait_flushed(30)
    assert target.applied == [("put", path), ("rm", path)]
    assert not target.exists(path)
    assert not fs.exists(path)  # no answer kept from the upload says otherwise
