"""Which cells a read asks for: data cells only when healthy, one round when degraded."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from .conftest import SMALL_CELL

STRIPE = 4 * SMALL_CELL
DATA = os.urandom(3 * STRIPE)


class _CountingReads:
    """Wraps a target filesystem and counts its reads of fragments (and of manifests)."""

    def __init__(self, inner, counts: Counter, index: int):
        self.inner, self.counts, self.index = inner, counts, index

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def cat_file(self, path, start=None, end=None, **kwargs):
        if "/data/" in path:
            self.counts[self.index] += 1
        else:
            self.counts["manifest", self.index] += 1
        return self.inner.cat_file(path, start=start, end=end, **kwargs)


def _data_reads(counts: Counter) -> dict[int, int]:
    """Reads of fragment objects per fragment index."""
    return {index: n for index, n in counts.items() if isinstance(index, int)}


@pytest.fixture
def counted(local_fs):
    local_fs.pipe_file("plan.bin", DATA)
    manifest = local_fs.manifest("plan.bin")
    counts: Counter = Counter()
    for index, url in enumerate(manifest.targets):
        target = local_fs.catalog.by_url[url]
        target.fs = _CountingReads(target.fs, counts, index)
    return local_fs, manifest, counts


def test_a_healthy_read_fetches_one_run_per_data_fragment_and_decodes_nothing(counted,
                                                                            monkeypatch):
    fs, _, counts = counted
    monkeypatch.setattr(fs.codec, "decode", lambda *_: pytest.fail("healthy read decoded"))
    assert fs.cat_file("plan.bin") == DATA
    assert _data_reads(counts) == {0: 1, 1: 1, 2: 1, 3: 1}


def test_a_range_read_fetches_only_the_data_cells_it_covers(counted):
    fs, _, counts = counted
    assert fs.cat_file("plan.bin", STRIPE + 10, STRIPE + SMALL_CELL + 10) == \
        DATA[STRIPE + 10 : STRIPE + SMALL_CELL + 10]
    assert _data_reads(counts) == {0: 1, 1: 1}


def test_a_read_around_a_known_down_target_asks_k_others_in_one_round(counted):
    fs, manifest, counts = counted
    fs.catalog.by_url[manifest.targets[0]].mark_down(ConnectionError("gone"))
    assert fs.cat_file("plan.bin") == DATA
    assert _data_reads(counts) == {1: 1, 2: 1, 3: 1, 4: 1}
    assert counts["manifest", 0] == 0 and counts["manifest", 1] == 1  # not asked either
