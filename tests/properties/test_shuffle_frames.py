"""Shuffle blocks and push bodies: frames split from any chunking decode to what was
encoded; any other bytes raise ``CorruptShuffleBlockError`` (or ``ValueError`` for a
partition the shuffle does not have), never another error and never other bytes."""

from __future__ import annotations

import struct
import tracemalloc

import lz4.frame
import pytest
import xxhash
from hypothesis import given
from hypothesis import strategies as st

from tests.properties.strategies import IN_PLACE, damaged, modest
from tierfs.shuffle.compression import Compressor
from tierfs.shuffle.errors import CorruptShuffleBlockError
from tierfs.shuffle.frames import (
    CODEC_LZ4,
    CODEC_NONE,
    HEADER_SIZE,
    MAGIC,
    BlockId,
    FrameSplitter,
    decode_block,
    encode_block,
)
from tierfs_server.shuffle_store import ShuffleSettings, ShuffleStore

PARTITIONS = 4
ids = st.integers(0, 2**63 - 1)
raws = st.binary(max_size=300) | st.builds(lambda byte, n: byte * n, st.binary(min_size=1,
                                                                              max_size=2),
                                           st.integers(0, 5000))  # compressible too


@st.composite
def blocks(draw) -> tuple[BlockId, int, int, bytes, int]:
    block_id = BlockId(draw(ids), draw(ids), draw(st.integers(0, PARTITIONS - 1)))
    return (block_id, draw(st.integers(0, 2**32 - 1)), draw(st.sampled_from([0, 1])),
            draw(raws), draw(st.sampled_from([CODEC_NONE, CODEC_LZ4])))


def _stream(drawn: list) -> bytes:
    parts = []
    for block_id, sequence, kind, raw, codec in drawn:
        parts += encode_block(block_id, sequence, kind, raw, Compressor(codec).compress)
    return b"".join(map(bytes, parts))


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    edges = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    return [data[a:b] for a, b in zip(edges, edges[1:], strict=False)]


def _decoded(chunks: list[bytes]) -> list[tuple] | None:
    """Each block as (id, sequence, kind, bytes), or None if the stream raised."""
    splitter = FrameSplitter("a property test")
    try:
        frames = [bytes(frame) for chunk in chunks for frame in splitter.feed(chunk)]
        splitter.finish()
        return [(b.id, b.sequence, b.kind, bytes(b.data))
                for b in (decode_block(memoryview(frame), "a property test") for frame in frames)]
    except CorruptShuffleBlockError:
        return None


def _originals(drawn: list) -> list[tuple]:
    return [(block_id, sequence, kind, raw) for block_id, sequence, kind, raw, _ in drawn]


@modest
@given(drawn=st.lists(blocks(), max_size=6), cuts=st.lists(st.integers(0, 2**20), max_size=8))
def test_frames_split_from_any_chunking_decode_to_the_blocks_written(drawn, cuts):
    assert _decoded(_chunks(_stream(drawn), cuts)) == _originals(drawn)


@modest
@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(0, 3000), max_size=6))
def test_any_bytes_split_and_decode_or_raise(data, cuts):
    _decoded(_chunks(data, cuts))


@modest
@given(drawn=st.lists(blocks(), min_size=1, max_size=4), edit=st.data())
def test_a_stream_damaged_in_place_decodes_exactly_or_raises(drawn, edit):
    decoded = _decoded([edit.draw(damaged(_stream(drawn), IN_PLACE))])
    assert decoded in (None, _originals(drawn))


@modest
@given(drawn=st.lists(blocks(), min_size=1, max_size=4), edit=st.data())
def test_any_damage_decodes_only_blocks_that_were_written(drawn, edit):
    decoded = _decoded([edit.draw(damaged(_stream(drawn)))])
    assert decoded is None or all(block in _originals(drawn) for block in decoded)


def _digested(kind: int, codec: int, raw_length: int, payload: bytes) -> bytes:
    """A frame whose digest holds whatever its fields say: what a hostile pusher can send."""
    prefix = struct.pack("<4sBBHQQIIII", MAGIC, kind, codec, 0, 1, 0, 0, 0, raw_length,
                         len(payload))
    return prefix + struct.pack("<Q", xxhash.xxh3_64_intdigest(prefix + payload)) + payload


known = st.sampled_from([0, 1])  # the kinds and codecs there are


@modest
@given(kind=known | st.integers(0, 255), codec=known | st.integers(0, 255),
       raw_length=st.integers(0, 2**32 - 1),
       payload=st.binary(max_size=200) | st.binary(max_size=200).map(lz4.frame.compress))
def test_a_frame_with_a_good_digest_and_any_fields_decodes_or_raises(kind, codec, raw_length,
                                                                     payload):
    frame = _digested(kind, codec, raw_length, payload)
    assert len(frame) == HEADER_SIZE + len(payload)
    try:
        block = decode_block(memoryview(frame), "a property test")
    except CorruptShuffleBlockError:
        return
    assert len(block.data) == raw_length


def test_a_payload_that_decompresses_beyond_its_stated_length_raises_without_inflating():
    bomb = lz4.frame.compress(bytes(256 * 2**20), store_size=False)  # 1 MiB that inflates 256x
    tracemalloc.start()
    try:
        with pytest.raises(CorruptShuffleBlockError, match="wrong length"):
            decode_block(memoryview(_digested(0, CODEC_LZ4, 10, bomb)), "a property test")
        assert tracemalloc.get_traced_memory()[1] < 16 * 2**20  # not 256 MiB
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def shuffles(tmp_path_factory):
    store = ShuffleStore(ShuffleSettings(str(tmp_path_factory.mktemp("shuffle"))))
    store.create("fuzzed", PARTITIONS)
    return store


@modest
@given(data=st.binary(max_size=3000))
def test_any_push_body_is_taken_or_refused_with_a_named_error(shuffles, data):
    try:
        shuffles.push("fuzzed", data)
    except (CorruptShuffleBlockError, ValueError):
        pass


@modest
@given(drawn=st.lists(blocks(), max_size=4), edit=st.data())
def test_a_damaged_push_body_is_refused_whole_or_holds_only_blocks_written(shuffles, drawn,
                                                                          edit):
    body = edit.draw(damaged(_stream(drawn)))
    try:
        shuffles.push("fuzzed", body)
    except CorruptShuffleBlockError:
        return
    assert _decoded([body]) is not None  # every frame taken passed its digest
