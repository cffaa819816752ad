"""Block files: any header parses or raises ``CorruptBlock``; damage never yields wrong bytes."""

from __future__ import annotations

import os
import random
import struct
import uuid

import pytest
import xxhash
from hypothesis import given
from hypothesis import strategies as st

from tests.properties.strategies import damaged, modest
from tierfs.cache.block_files import BlockFiles, read_block_file
from tierfs.cache.block_format import (
    MAGIC,
    MAX_CHUNKS,
    BlockHeader,
    CorruptBlock,
    chunk_size_for,
    encode_header,
)

CHUNK = chunk_size_for(1)  # 64 KiB: blocks of a few chunks keep examples fast


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """One ``BlockFiles`` for every example (each uses a fresh key): one change watch."""
    directory = tmp_path_factory.mktemp("blocks")
    corrupt: list[str] = []
    files = BlockFiles(directory, lambda key, error: corrupt.append(key))
    yield files
    files.forget_all()


def _block(seed: int, length: int) -> bytes:
    return random.Random(seed).randbytes(length)


def _encoded(data: bytes) -> bytes:
    return encode_header(data, chunk_size_for(len(data))) + data


def _store(files: BlockFiles, raw: bytes) -> str:
    key = uuid.uuid4().hex
    path = files.path(key)
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(raw)
    return key


lengths = st.integers(0, 4 * CHUNK + 17)
seeds = st.integers(0, 2**32)


@modest
@given(raw=st.binary(max_size=5000))
def test_any_header_bytes_parse_or_raise_corrupt_block(raw):
    try:
        header = BlockHeader(raw)
    except CorruptBlock:
        return
    assert len(header.digests) == -(-header.data_length // header.chunk)


@st.composite
def checksummed_headers(draw) -> bytes:
    """Headers whose own checksum holds but whose fields are anything: a hostile writer."""
    count = draw(st.integers(0, MAX_CHUNKS + 2))
    body = struct.pack("<8sQII", draw(st.sampled_from([MAGIC, b"TIERBLK0"])),
                       draw(st.integers(0, 2**64 - 1)), draw(st.integers(0, 2**32 - 1)), count)
    body += draw(st.binary(min_size=8 * count, max_size=8 * count))
    return body + struct.pack("<Q", xxhash.xxh3_64_intdigest(body))


@modest
@given(raw=checksummed_headers(), data=st.binary(max_size=300))
def test_a_checksummed_header_with_any_fields_parses_or_raises_corrupt_block(raw, data):
    try:
        header = BlockHeader(raw)
    except CorruptBlock:
        return
    assert len(header.digests) == -(-header.data_length // header.chunk) <= MAX_CHUNKS
    try:
        header.verify(data, 0)
    except CorruptBlock:
        return


@modest
@given(seed=seeds, length=lengths, span=st.tuples(st.floats(0, 1), st.floats(0, 1)))
def test_an_encoded_block_reads_back_exactly(files, seed, length, span):
    data = _block(seed, length)
    key = _store(files, _encoded(data))
    start, end = sorted(int(f * length) for f in span)
    assert bytes(files.read(key, start, end)) == data[start:end]
    assert read_block_file(files.path(key)) == data
    files.forget(key)
    os.unlink(files.path(key))


@modest
@given(seed=seeds, length=lengths, span=st.tuples(st.floats(0, 1), st.floats(0, 1)),
       edit=st.data())
def test_a_damaged_block_file_reads_exactly_or_not_at_all(files, seed, length, span, edit):
    data = _block(seed, length)
    raw = edit.draw(damaged(_encoded(data)))
    key = _store(files, raw)
    start, end = sorted(int(f * length) for f in span)
    got = files.read(key, start, end)
    assert got is None or bytes(got) == data[start:end]
    whole = read_block_file(files.path(key))
    assert whole is None or whole == data
    files.forget(key)
    os.unlink(files.path(key))
