"""Fuzz write-back journal records: any bytes decode to records every reader can use or
raise ``JournalCorruptError``; a journal damaged in place yields a prefix of its records."""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from mutations import damage

    from tierfs.writeback.journal import (
        JournalCorruptError,
        decode_records,
        encode_record,
        still_pending,
        upload_starts,
    )


def _records(fdp: atheris.FuzzedDataProvider) -> list[dict]:
    records = []
    for seq in range(1, fdp.ConsumeIntInRange(1, 6) + 1):
        path = fdp.ConsumeUnicodeNoSurrogates(12)
        records.append(fdp.PickValueInList([
            {"op": "write", "seq": seq, "path": path, "blob": f"{seq:032x}",
             "size": fdp.ConsumeIntInRange(0, 2**40), "mtime": fdp.ConsumeRegularFloat()},
            {"op": "rm", "seq": seq, "path": path, "replaces": seq - 1},
            {"op": "mv", "seq": seq, "path": path, "dst": path + "2"},
            {"op": "done", "seq": seq - 1},
            {"op": "start", "seq": seq - 1, "at": fdp.ConsumeRegularFloat()},
        ]))
    return records


def _decode(data: bytes) -> list[dict] | None:
    try:
        records, valid_length = decode_records(data, "fuzzed journal")
    except JournalCorruptError:
        return None
    if not 0 <= valid_length <= len(data):
        raise AssertionError("valid length outside the journal")
    still_pending(records)
    upload_starts(records)
    return records


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    if fdp.ConsumeBool():
        _decode(fdp.ConsumeBytes(fdp.remaining_bytes()))
        return
    records = _records(fdp)
    decoded = _decode(damage(fdp, b"".join(map(encode_record, records)), in_place=True))
    if decoded is not None and decoded != records[:len(decoded)]:
        raise AssertionError("a damaged journal yielded records that were not written")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
