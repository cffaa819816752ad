"""Lost, unreachable and corrupt fragments over local targets: exhaustive and exact."""

from __future__ import annotations

import itertools
import os
import shutil

import pytest

from tierfs.ec import ECFileSystem, ECWriteError, FragmentsUnavailableError

from .conftest import SMALL_CELL
from .local_damage import flip_byte, fragment_files, node_dir

STRIPE = 4 * SMALL_CELL
DATA = os.urandom(9 * STRIPE + 1234)


@pytest.fixture
def stored(local_fs):
    local_fs.pipe_file("data.bin", DATA)
    return local_fs


def _lose(targets: list[str], lost: tuple[int, ...]) -> None:
    for index in lost:
        os.rename(node_dir(targets[index]), node_dir(targets[index]) + ".lost")


def _restore(targets: list[str], lost: tuple[int, ...]) -> None:
    for index in lost:
        os.rename(node_dir(targets[index]) + ".lost", node_dir(targets[index]))


def test_every_pair_of_lost_targets_still_reads_byte_exact(stored, local_targets):
    for lost in itertools.chain(itertools.combinations(range(6), 1),
                                itertools.combinations(range(6), 2)):
        _lose(local_targets, lost)
        try:
            fs = ECFileSystem(targets=local_targets, cell_size=SMALL_CELL,
                              skip_instance_cache=True)
            assert fs.cat_file("data.bin") == DATA, lost
            assert fs.cat_file("data.bin", STRIPE - 5, 3 * STRIPE + 9) == \
                DATA[STRIPE - 5 : 3 * STRIPE + 9], lost
        finally:
            _restore(local_targets, lost)


def test_three_lost_targets_raise_an_error_naming_file_and_fragments(stored, local_targets):
    manifest = stored.manifest("data.bin")
    lost_urls = manifest.targets[:3]
    _lose(local_targets, tuple(local_targets.index(url) for url in lost_urls))
    fs = ECFileSystem(targets=local_targets, cell_size=SMALL_CELL, skip_instance_cache=True)
    with pytest.raises(FragmentsUnavailableError) as caught:
        fs.cat_file("data.bin")
    assert isinstance(caught.value, OSError)
    assert "data.bin" in str(caught.value)
    assert sorted(caught.value.missing) == [0, 1, 2]
    assert all(f"fragment {i}" in str(caught.value) for i in range(3))


def test_a_flipped_byte_is_detected_and_the_read_is_still_exact(stored):
    fragment = fragment_files(stored, "data.bin")[1]
    flip_byte(fragment, SMALL_CELL + 500)  # inside the payload of stripe 0, data cell 1
    assert stored.cat_file("data.bin") == DATA
    assert stored.cat_file("data.bin", SMALL_CELL, SMALL_CELL + 10) == \
        DATA[SMALL_CELL : SMALL_CELL + 10]


def test_a_corrupt_cell_is_never_served_when_too_many_are_bad(stored):
    for fragment in fragment_files(stored, "data.bin")[:3]:
        flip_byte(fragment, 100)
    with pytest.raises(FragmentsUnavailableError, match="checksum mismatch"):
        stored.cat_file("data.bin", 0, 10)


def test_a_corrupt_manifest_copy_is_ignored(stored, local_targets):
    with open(node_dir(local_targets[0]) + "/meta/data.bin", "r+b") as handle:
        handle.write(b"garbage")
    fs = ECFileSystem(targets=local_targets, cell_size=SMALL_CELL, skip_instance_cache=True)
    assert fs.cat_file("data.bin") == DATA


def test_a_write_survives_m_failing_targets(local_fs):
    for target in local_fs.targets[:2]:
        target.fs = _FailingWrites(target.fs, after_bytes=SMALL_CELL)
    local_fs.pipe_file("degraded", DATA)
    assert local_fs.cat_file("degraded") == DATA


def test_a_write_with_more_than_m_failing_targets_leaves_no_visible_file(local_fs):
    for target in local_fs.targets[:3]:
        target.fs = _FailingWrites(target.fs, after_bytes=3 * SMALL_CELL)
    with pytest.raises(ECWriteError) as caught:
        with local_fs.open("partial", "wb") as handle:
            for start in range(0, len(DATA), STRIPE):
                handle.write(DATA[start : start + STRIPE])
    assert "partial" in str(caught.value) and isinstance(caught.value, OSError)
    for target in local_fs.targets[:3]:
        target.fs = target.fs.inner
    assert not local_fs.exists("partial")
    assert local_fs.ls("", detail=False) == []
    assert not any(os.listdir(node_dir(t.url) + "/data") for t in local_fs.targets
                   if os.path.isdir(node_dir(t.url) + "/data"))


class _FailingWrites:
    """A target filesystem whose uploads break after some bytes, like a node dying mid-write."""

    def __init__(self, inner, after_bytes: int):
        self.inner = inner
        self.after_bytes = after_bytes

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def open(self, path, mode="rb", **kwargs):
        handle = self.inner.open(path, mode, **kwargs)
        return _BreakingHandle(handle, self.after_bytes) if "w" in mode else handle


class _BreakingHandle:
    def __init__(self, handle, after_bytes: int):
        self.handle = handle
        self.left = after_bytes

    def write(self, data) -> int:
        self.left -= len(data)
        if self.left < 0:
            raise ConnectionError("node went away mid-write")
        return self.handle.write(data)

    def __getattr__(self, name):
        return getattr(self.handle, name)


def test_a_lost_parity_fragment_is_not_read_by_healthy_reads(stored, local_targets):
    shutil.rmtree(node_dir(stored.manifest("data.bin").targets[4]) + "/data")
    assert stored.cat_file("data.bin") == DATA  # fragment 4 is parity: not even needed
