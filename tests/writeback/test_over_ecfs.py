"""The buffer works over any fsspec target: here the erasure-coded ``ecfs`` store."""

from __future__ import annotations

from tierfs.ec import ECFileSystem
from tierfs.writeback import WriteBackBuffer


def test_writes_renames_and_deletes_reach_an_erasure_coded_store(tmp_path, buffer_dir):
    store = ECFileSystem(
        targets=[f"file://{tmp_path}/node{i}" for i in range(6)], cell_size=4096,
        skip_instance_cache=True,
    )
    big = bytes(range(256)) * 300  # several stripes of 4 KiB cells
    with WriteBackBuffer(buffer_dir, "4MiB", store) as buffer:
        buffer.pipe("data/big", big)
        buffer.pipe("data/small", b"small")
        buffer.mv("data/small", "data/renamed")
        buffer.pipe("data/temp", b"temporary")
        buffer.rm("data/temp")
        assert buffer.wait_flushed(30), buffer.stats()
    assert store.cat_file("data/big") == big
    assert store.cat_file("data/renamed") == b"small"
    assert sorted(store.find("data")) == ["data/big", "data/renamed"]
