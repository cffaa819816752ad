"""ecfs over six local directories: round trips, ranges, namespace, errors, overhead, memory."""

from __future__ import annotations

import os
import random
import tracemalloc
from pathlib import Path

import fsspec
import pytest

from tierfs.ec import ECFileSystem

from .conftest import SMALL_CELL

CELL, STRIPE = SMALL_CELL, 4 * SMALL_CELL
SIZES = [0, 1, CELL - 1, CELL, STRIPE - 1, STRIPE, STRIPE + 1, 37 * STRIPE + 5]


@pytest.mark.parametrize("size", SIZES)
def test_pipe_round_trip_is_byte_exact(local_fs, size):
    data = os.urandom(size)
    local_fs.pipe_file("dir/file.bin", data)
    assert local_fs.cat_file("dir/file.bin") == data
    assert local_fs.info("dir/file.bin")["size"] == size


@pytest.mark.parametrize("size", SIZES)
def test_streaming_write_round_trip_is_byte_exact(local_fs, size):
    data = os.urandom(size)
    with local_fs.open("stream.bin", "wb") as handle:
        for start in range(0, size, 3001):  # chunks that straddle cells and stripes
            handle.write(data[start : start + 3001])
    assert local_fs.cat_file("stream.bin") == data


def test_random_range_reads_are_byte_exact(local_fs):
    data = os.urandom(23 * STRIPE + 777)
    local_fs.pipe_file("r.bin", data)
    rng = random.Random(7)
    for _ in range(200):
        start = rng.randrange(len(data))
        end = rng.randrange(start, len(data) + 100)
        assert local_fs.cat_file("r.bin", start, end) == data[start:end]
    assert local_fs.cat_file("r.bin", -100) == data[-100:]
    with local_fs.open("r.bin") as handle:
        handle.seek(5 * STRIPE - 10)
        assert handle.read(STRIPE) == data[5 * STRIPE - 10 : 6 * STRIPE - 10]


def test_registered_protocol_and_chained_url(local_targets):
    fs = fsspec.filesystem("ecfs", targets=local_targets, cell_size=CELL)
    fs.pipe_file("p/q", b"hello")
    with fsspec.open("ecfs://p/q", "rb", targets=local_targets, cell_size=CELL) as handle:
        assert handle.read() == b"hello"


def test_ls_and_info_show_logical_sizes_and_directories(local_fs):
    local_fs.pipe_file("a/one", b"x" * 10)
    local_fs.pipe_file("a/two", b"y" * (3 * STRIPE))
    local_fs.pipe_file("a/sub/three", b"z")
    listing = {e["name"]: (e["type"], e["size"]) for e in local_fs.ls("a")}
    assert listing == {"a/one": ("file", 10), "a/two": ("file", 3 * STRIPE),
                       "a/sub": ("directory", 0)}
    assert local_fs.ls("", detail=False) == ["a"]
    assert local_fs.info("a")["type"] == "directory"
    assert sorted(local_fs.find("a")) == ["a/one", "a/sub/three", "a/two"]
    assert local_fs.exists("a/one") and not local_fs.exists("a/none")


def test_missing_paths_raise_file_not_found(local_fs):
    for call in (lambda: local_fs.cat_file("nope"), lambda: local_fs.info("nope"),
                 lambda: local_fs.open("nope"), lambda: local_fs.ls("nope"),
                 lambda: local_fs.rm("nope")):
        with pytest.raises(FileNotFoundError):
            call()


def test_rm_removes_manifest_and_fragments(local_fs, local_targets):
    local_fs.pipe_file("gone", os.urandom(STRIPE * 3))
    local_fs.rm("gone")
    assert not local_fs.exists("gone")
    assert _stored_files(local_targets) == []


def test_overwrite_keeps_only_the_new_fragments(local_fs, local_targets):
    local_fs.pipe_file("f", os.urandom(STRIPE * 2))
    local_fs.pipe_file("f", b"new")
    assert local_fs.cat_file("f") == b"new"
    assert len([p for p in _stored_files(local_targets) if "/data/" in p]) == 6


def test_mv_renames_without_moving_fragments(local_fs, local_targets):
    data = os.urandom(5 * STRIPE)
    local_fs.pipe_file("x/old", data)
    fragments = sorted(p for p in _stored_files(local_targets) if "/data/" in p)
    local_fs.mv("x/old", "y/new")
    assert not local_fs.exists("x/old")
    assert local_fs.cat_file("y/new") == data
    assert sorted(p for p in _stored_files(local_targets) if "/data/" in p) == fragments
    local_fs.mv("y", "z", recursive=True)
    assert local_fs.cat_file("z/new") == data


def test_copy_writes_independent_fragments(local_fs):
    data = os.urandom(3 * STRIPE + 1)
    local_fs.pipe_file("src", data)
    local_fs.cp_file("src", "dst")
    local_fs.rm("src")
    assert local_fs.cat_file("dst") == data


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [({"k": 0}, "k"), ({"m": -1}, "m"), ({"cell_size": 1000}, "cell_size"),
     ({"cell_size": "huge"}, "cell_size"), ({"k": 6}, "targets"),
     ({"target_options": [{}, {}]}, "target_options")],
)
def test_bad_configuration_raises_value_error_naming_the_setting(local_targets, kwargs, setting):
    with pytest.raises(ValueError, match=f"^{setting}:"):
        ECFileSystem(targets=local_targets, skip_instance_cache=True, **kwargs)


def test_duplicate_targets_are_rejected(local_targets):
    with pytest.raises(ValueError, match="^targets:.*distinct"):
        ECFileSystem(targets=local_targets[:5] + local_targets[:1], skip_instance_cache=True)


def test_stored_bytes_per_logical_byte_is_at_most_1_52_from_16_mib(local_targets):
    fs = ECFileSystem(targets=local_targets, skip_instance_cache=True)  # default 1 MiB cells
    size = 16 * 2**20 + 12345
    fs.pipe_file("big", os.urandom(size))
    stored = sum(os.path.getsize(p) for p in _stored_files(local_targets))
    assert stored / size <= 1.52


def test_streaming_write_memory_stays_within_a_few_stripes(local_targets):
    fs = ECFileSystem(targets=local_targets, cell_size="256KiB", skip_instance_cache=True)
    stripe = fs.policy.stripe_size
    chunk = os.urandom(256 * 1024)
    tracemalloc.start()
    with fs.open("stream", "wb") as handle:
        for _ in range(96 * stripe // len(chunk)):
            handle.write(chunk)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert fs.info("stream")["size"] == 96 * stripe
    # the file's buffer, one stripe being encoded (1.5x), two queued per target (3x): ~8
    assert peak < 12 * stripe, f"peak {peak / 2**20:.1f} MiB for a {96 * stripe / 2**20} MiB file"


def test_more_targets_than_k_plus_m_spread_files_by_rendezvous(tmp_path):
    targets = [f"file://{tmp_path}/n{i}" for i in range(9)]
    fs = ECFileSystem(targets=targets, cell_size=CELL, skip_instance_cache=True)
    for i in range(30):
        fs.pipe_file(f"f{i}", os.urandom(100))
    used = {Path(p).parts[len(tmp_path.parts)] for p in _stored_files(targets)}
    assert used == {f"n{i}" for i in range(9)}
    assert all(fs.cat_file(f"f{i}") for i in range(30))


def _stored_files(targets: list[str]) -> list[str]:
    files = []
    for url in targets:
        for root, _, names in os.walk(url.removeprefix("file://")):
            files += [os.path.join(root, name) for name in names]
    return files
