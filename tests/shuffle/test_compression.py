"""lz4 is kept where it saves space and dropped for a writer whose data does not compress."""

from __future__ import annotations

import os

from tierfs.shuffle.compression import Compressor
from tierfs.shuffle.frames import CODEC_LZ4, CODEC_NONE


def test_compressible_blocks_stay_compressed():
    compressor = Compressor(CODEC_LZ4)
    codecs = [compressor.compress(b"abcd" * 50_000)[0] for _ in range(10)]
    assert codecs == [CODEC_LZ4] * 10


def test_incompressible_data_is_stored_raw_after_the_trial_blocks():
    compressor = Compressor(CODEC_LZ4)
    blocks = [os.urandom(100_000) for _ in range(6)]
    results = [compressor.compress(block) for block in blocks]
    assert [codec for codec, _ in results] == [CODEC_NONE] * 6
    assert compressor.codec == CODEC_NONE  # no more lz4 work for this writer
    assert all(payload is block for (_, payload), block in zip(results, blocks, strict=True))


def test_compression_off_never_compresses():
    assert Compressor(CODEC_NONE).compress(b"a" * 1000) == (CODEC_NONE, b"a" * 1000)


def test_mixed_codecs_round_trip(open_backend):
    shuffle = open_backend("local", block_size="64KiB").create("mixed", 1)
    data = [b"z" * 70_000, os.urandom(70_000), b"y" * 70_000]
    with shuffle.map_writer(0) as writer:
        for chunk in data:
            writer.write(0, chunk)
        writer.commit()
    assert shuffle.reader(0).read_bytes() == b"".join(data)
