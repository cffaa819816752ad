"""Fuzz the block file format: any header parses or raises ``CorruptBlock``, and a damaged
block file reads back exactly or not at all (``read_block_file`` answers None)."""

from __future__ import annotations

import os
import random
import sys
import tempfile

import atheris

with atheris.instrument_imports():
    from mutations import damage

    from tierfs.cache.block_files import read_block_file
    from tierfs.cache.block_format import BlockHeader, CorruptBlock, chunk_size_for, encode_header

SCRATCH = tempfile.NamedTemporaryFile(prefix="fuzz-block-", dir="/dev/shm"
                                      if os.path.isdir("/dev/shm") else None)


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    if fdp.ConsumeBool():
        raw = fdp.ConsumeBytes(fdp.remaining_bytes())
        try:
            BlockHeader(raw).verify(raw[-300:], 0)
        except CorruptBlock:
            pass
        return
    length = fdp.ConsumeIntInRange(0, 3 * chunk_size_for(1) + 100)
    block = random.Random(fdp.ConsumeInt(4)).randbytes(length)
    encoded = encode_header(block, chunk_size_for(length)) + block
    os.ftruncate(SCRATCH.fileno(), 0)
    os.pwrite(SCRATCH.fileno(), damage(fdp, encoded), 0)
    got = read_block_file(SCRATCH.name)
    if got is not None and got != block:
        raise AssertionError("a damaged block file read back other bytes")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
