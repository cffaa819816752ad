"""``write_mode="back"``: acknowledged at local-disk speed, visible at once, uploaded in order."""

from __future__ import annotations

import os
import threading

import fsspec
import pytest
from fsspec.implementations.local import LocalFileSystem


class GatedLocalFileSystem(LocalFileSystem):
    """A real local directory whose writes wait for ``gate``: uploads stay pending on demand."""

    def __init__(self, gate: threading.Event, **kwargs):
        super().__init__(**kwargs)
        self.gate = gate

    def _wait(self):
        assert self.gate.wait(60), "gate never opened"

    def put_file(self, *args, **kwargs):
        self._wait()
        return super().put_file(*args, **kwargs)

    def pipe_file(self, *args, **kwargs):
        self._wait()
        return super().pipe_file(*args, **kwargs)

    def rm_file(self, *args, **kwargs):
        self._wait()
        return super().rm_file(*args, **kwargs)

    def mv(self, *args, **kwargs):
        self._wait()
        return super().mv(*args, **kwargs)

    def _open(self, path, mode="rb", **kwargs):
        if "w" in mode:
            self._wait()
        return super()._open(path, mode, **kwargs)


@pytest.fixture
def gated(tmp_path):
    gate = threading.Event()
    target = GatedLocalFileSystem(gate, skip_instance_cache=True)
    root = tmp_path / "target"
    root.mkdir()
    fs = fsspec.filesystem(
        "tierfs", fs=target, skip_instance_cache=True, write_mode="back",
        buffer_dir=str(tmp_path / "buffer"), metadata_ttl=-1,
        tiers=[{"medium": "memory", "capacity": "64MiB"}],
    )
    yield fs, gate, root
    gate.set()
    fs.wait_flushed(30)
    fs.close()


def test_buffered_writes_are_readable_before_they_are_uploaded(gated):
    fs, gate, root = gated
    data = os.urandom(3 * 2**20 + 5)
    with fs.open(f"{root}/a/new.bin", "wb") as file:
        file.write(data)
    fs.pipe_file(f"{root}/a/small.txt", b"hello")
    assert not (root / "a" / "new.bin").exists()  # the upload is held back
    assert fs.cat_file(f"{root}/a/new.bin") == data
    assert fs.cat_file(f"{root}/a/new.bin", 10, 20) == data[10:20]
    with fs.open(f"{root}/a/new.bin", "rb") as file:
        file.seek(2**20)
        assert file.read(100) == data[2**20:2**20 + 100]
    assert fs.info(f"{root}/a/new.bin")["size"] == len(data)
    assert fs.exists(f"{root}/a/small.txt")
    assert sorted(fs.ls(f"{root}/a", detail=False)) == [f"{root}/a/new.bin",
                                                         f"{root}/a/small.txt"]
    assert fs.find(str(root)) == [f"{root}/a/new.bin", f"{root}/a/small.txt"]
    gate.set()
    assert fs.wait_flushed(30)
    assert (root / "a" / "new.bin").read_bytes() == data
    assert (root / "a" / "small.txt").read_bytes() == b"hello"


def test_deletes_and_renames_apply_after_the_writes_they_follow(gated):
    fs, gate, root = gated
    fs.pipe_file(f"{root}/x", b"first")
    fs.pipe_file(f"{root}/x", b"second, overwriting")
    fs.mv(f"{root}/x", f"{root}/y")
    fs.pipe_file(f"{root}/z", b"doomed")
    fs.rm(f"{root}/z")
    assert not fs.exists(f"{root}/x") and not fs.exists(f"{root}/z")
    assert fs.cat_file(f"{root}/y") == b"second, overwriting"
    with pytest.raises(FileNotFoundError):
        fs.cat_file(f"{root}/z")
    gate.set()
    assert fs.wait_flushed(30)
    assert sorted(p.name for p in root.iterdir()) == ["y"]
    assert (root / "y").read_bytes() == b"second, overwriting"


def test_a_renamed_target_file_reads_from_its_old_name_until_the_rename_lands(gated):
    fs, gate, root = gated
    (root / "old").write_bytes(b"already in the target")
    fs.mv(f"{root}/old", f"{root}/new")
    assert fs.cat_file(f"{root}/new") == b"already in the target"
    assert not fs.exists(f"{root}/old")
    gate.set()
    assert fs.wait_flushed(30)
    assert (root / "new").read_bytes() == b"already in the target"


def test_a_failed_with_block_acknowledges_nothing(gated):
    fs, gate, root = gated
    with pytest.raises(RuntimeError), fs.open(f"{root}/partial", "wb") as file:
        file.write(b"half of it")
        raise RuntimeError("writer crashed")
    assert not fs.exists(f"{root}/partial")
    gate.set()
    assert fs.wait_flushed(30)
    assert not (root / "partial").exists()


def test_uploaded_files_enter_the_cache_and_read_hot(seaweed, s3, bucket, tmp_path):
    fs = fsspec.filesystem(
        "tierfs", target_protocol="s3", skip_instance_cache=True,
        target_options=seaweed.storage_options() | {"skip_instance_cache": True},
        write_mode="back", buffer_dir=str(tmp_path / "buffer"),
        tiers=[{"medium": "memory", "capacity": "64MiB"}], block_size=2**20,
    )
    data = os.urandom(3 * 2**20)
    fs.pipe_file(f"{bucket}/hot.bin", data)
    assert fs.wait_flushed(60)
    assert s3.cat_file(f"{bucket}/hot.bin") == data
    assert fs.cat_file(f"{bucket}/hot.bin") == data
    stats = fs.cache_stats()
    assert stats["under_store_bytes"] == 0 and stats["hits"] == 3
    assert stats["writeback"]["uploaded_files"] == 1
    fs.close()


@pytest.mark.parametrize(
    ("options", "setting"),
    [
        ({"write_mode": "back"}, "buffer_dir"),
        ({"write_mode": "back", "buffer_capacity": "lots"}, "buffer_capacity"),
        ({"write_mode": "back", "buffer_when_full": "panic"}, "when_full"),
        ({"buffer_dir": "/tmp/x"}, "buffer_dir"),
    ],
)
def test_bad_write_back_settings_name_the_setting(tmp_path, options, setting):
    if options.get("write_mode") == "back" and setting != "buffer_dir":
        options = options | {"buffer_dir": str(tmp_path / "buffer")}
    with pytest.raises(ValueError, match=setting):
        fsspec.filesystem("tierfs", target_protocol="file", skip_instance_cache=True,
                          tiers=[{"medium": "memory", "capacity": "1MiB"}], **options)
