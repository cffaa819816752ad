"""Fuzz shuffle commit records (a daemon's commit request body, a stored marker): any
bytes are a valid record or raise ``CorruptShuffleBlockError``."""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from tierfs.shuffle.errors import CorruptShuffleBlockError
    from tierfs.shuffle.records import CommitRecord


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    partitions = fdp.ConsumeIntInRange(0, 8)
    try:
        record = CommitRecord.from_json(fdp.ConsumeBytes(fdp.remaining_bytes()), "fuzz",
                                        partitions)
    except CorruptShuffleBlockError:
        return
    if CommitRecord.from_json(record.to_json(), "fuzz", partitions) != record:
        raise AssertionError("a commit record did not round-trip")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
