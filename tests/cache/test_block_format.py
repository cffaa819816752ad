"""Block files carry per-chunk checksums: damage is detected, a range verifies its chunks."""

from __future__ import annotations

import os

import pytest

from tierfs.cache.block_format import (
    BlockHeader,
    CorruptBlock,
    chunk_size_for,
    encode_header,
    header_length,
)
from tierfs.cache.block_key import ObjectRef, block_key
from tierfs.cache.config import TierSpec
from tierfs.cache.directory_tier import DirectoryTier
from tierfs.cache.fetch_activity import FetchActivity


def test_header_round_trips_and_data_starts_on_a_page(tmp_path):
    data = os.urandom(4 * 2**20)
    chunk = chunk_size_for(len(data))
    header = BlockHeader(encode_header(data, chunk))
    assert header.data_length == len(data) and header.chunk == 64 * 2**10
    assert header.data_offset % 4096 == 0 and header.data_offset == header_length(64)
    header.verify(data, 0)
    lo, hi = header.chunk_span(100_000, 200_000)
    header.verify(data[lo:hi], lo)


def test_large_blocks_use_larger_chunks_to_keep_the_header_in_one_page():
    assert chunk_size_for(64 * 2**20) == 256 * 2**10
    assert header_length(256) == 4096


@pytest.mark.parametrize("where", ["magic", "table", "length"])
def test_a_damaged_header_is_rejected(where):
    data = os.urandom(300_000)
    raw = bytearray(encode_header(data, chunk_size_for(len(data))))
    raw[{"magic": 0, "length": 9, "table": 30}[where]] ^= 1
    with pytest.raises(CorruptBlock):
        BlockHeader(bytes(raw))


def test_one_flipped_bit_in_any_chunk_is_caught():
    data = bytearray(os.urandom(300_000))
    header = BlockHeader(encode_header(data, 64 * 2**10))
    data[200_001] ^= 0x08
    with pytest.raises(CorruptBlock, match="chunk 3"):
        header.verify(data, 0)


def test_a_directory_tier_drops_a_truncated_block_instead_of_serving_it(tmp_path):
    tier = DirectoryTier(TierSpec("ssd", 2**30, str(tmp_path)), FetchActivity())
    key = block_key(ObjectRef("s", "p", 10, "v"), 2**20, 0)
    data = os.urandom(500_000)
    tier.put(key, data)
    path = next(p for p in (tmp_path / "blocks").rglob("*") if p.is_file())
    os.truncate(path, path.stat().st_size - 1000)
    assert tier.get(key, 0, 10) is not None  # the first chunk is still intact
    assert tier.get(key, 490_000, 500_000) is None
    assert tier.corrupt_blocks == 1
    assert tier.usage() == (0, 0)


def test_block_keys_are_stable_and_version_dependent():
    obj = ObjectRef("s3|http://x", "b/k", 100, "ETag=1")
    assert block_key(obj, 10, 0) == block_key(ObjectRef("s3|http://x", "b/k", 100, "ETag=1"),
                                               10, 0)
    assert block_key(obj, 10, 0) != block_key(ObjectRef("s3|http://x", "b/k", 100, "ETag=2"),
                                              10, 0)
    assert block_key(obj, 10, 0) != block_key(obj, 10, 1)


def test_a_directory_tier_rejects_keys_that_are_not_hex_digests(tmp_path):
    tier = DirectoryTier(TierSpec("ssd", 2**20, str(tmp_path)), FetchActivity())
    with pytest.raises(ValueError, match="not a block key"):
        tier.get("../../etc/passwd", 0, 1)
