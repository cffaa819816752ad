"""Forgetting a listing while another thread forgets it too: fsspec's ``DirCache.pop`` looks
an entry up, then deletes it, so the thread that loses the race sees ``KeyError``. The race
is forced here by a listings cache on which the other thread wins."""

from __future__ import annotations

import pytest
import s3fs
from fsspec.dircache import DirCache

from tierfs.cached_store import forget_listings

_PATHS = ("bucket/a/b/c", "bucket/a/b", "bucket/a", "bucket")


class _OtherThreadWins(DirCache):
    """Each delete finds its entry already taken by another thread (``times`` of them)."""

    def __init__(self, times: int):
        super().__init__()
        self.lost = 0
        self._times = times

    def __delitem__(self, key):
        if self.lost < self._times:
            self.lost += 1
            self._cache.pop(key)  # the other thread's delete came first
        super().__delitem__(key)


def _store(times: int) -> s3fs.S3FileSystem:
    fs = s3fs.S3FileSystem(key="k", secret="s", skip_instance_cache=True,
                           client_kwargs={"endpoint_url": "http://127.0.0.1:9"})
    fs.dircache = _OtherThreadWins(times)
    for path in _PATHS:
        fs.dircache[path] = [{"name": f"{path}/x", "size": 0, "type": "file"}]
    return fs


def test_fsspec_itself_raises_when_it_loses_the_race():
    with pytest.raises(KeyError):
        _store(times=1).invalidate_cache("bucket/a/b/c")


@pytest.mark.parametrize("times", [1, 2, len(_PATHS)])
def test_forgetting_finishes_the_walk_whoever_wins(times):
    fs = _store(times)

    forget_listings(fs, "bucket/a/b/c")

    assert fs.dircache.lost == times and len(fs.dircache) == 0


def test_forgetting_everything_is_one_clear():
    fs = _store(times=0)

    forget_listings(fs)

    assert len(fs.dircache) == 0
