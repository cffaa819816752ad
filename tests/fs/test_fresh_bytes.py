"""``filled_bytes``: a ``bytes`` result written once, in place, by the reader's copy."""

from __future__ import annotations

import os

import pytest

from tierfs.fresh_bytes import filled_bytes


@pytest.mark.parametrize("size", [0, 1, 4096, 64 * 2**10, 3 * 2**20 + 5])
def test_the_result_is_ordinary_bytes_holding_what_was_written(size):
    source = os.urandom(size)

    def fill(view: memoryview) -> None:
        assert len(view) == size and not view.readonly
        view[:] = source

    result = filled_bytes(size, fill)

    assert type(result) is bytes and result == source
    assert hash(result) == hash(source) and {result: 1}[source] == 1


def test_results_are_distinct_objects():
    first = filled_bytes(2**20, lambda view: view.__setitem__(slice(None), b"a" * 2**20))
    second = filled_bytes(2**20, lambda view: view.__setitem__(slice(None), b"b" * 2**20))

    assert first == b"a" * 2**20 and second == b"b" * 2**20


def test_a_failed_fill_returns_nothing():
    def fill(view: memoryview) -> None:
        view[:10] = b"0123456789"
        raise OSError("the block went")

    with pytest.raises(OSError, match="the block went"):
        filled_bytes(2**20, fill)
