"""Write-back journal records: a torn tail is cut, damage before valid records raises
``JournalCorruptError``, and no other record than one that was written comes back."""

from __future__ import annotations

import json
import zlib

from hypothesis import given
from hypothesis import strategies as st

from tests.properties.strategies import IN_PLACE, damaged, json_values, modest
from tierfs.writeback.journal import (
    JournalCorruptError,
    decode_records,
    encode_record,
    still_pending,
    upload_starts,
)

seqs = st.integers(1, 2**63 - 1)
paths = st.text(min_size=1, max_size=40)
times = st.floats(0, 2e9)


def _records():
    """Records of every kind the buffer journals."""
    replaces = st.fixed_dictionaries({}, optional={"replaces": seqs})
    write = st.fixed_dictionaries({"op": st.just("write"), "seq": seqs, "path": paths,
                                   "blob": st.text("0123456789abcdef", min_size=32,
                                                   max_size=32),
                                   "size": st.integers(0, 2**40), "mtime": times})
    return st.one_of(
        st.tuples(write, replaces).map(lambda pair: pair[0] | pair[1]),
        st.tuples(st.fixed_dictionaries({"op": st.just("rm"), "seq": seqs, "path": paths}),
                  replaces).map(lambda pair: pair[0] | pair[1]),
        st.fixed_dictionaries({"op": st.just("mv"), "seq": seqs, "path": paths, "dst": paths}),
        st.fixed_dictionaries({"op": st.just("done"), "seq": seqs}),
        st.fixed_dictionaries({"op": st.just("start"), "seq": seqs, "at": times}),
    )


def _journal(records: list[dict]) -> bytes:
    return b"".join(map(encode_record, records))


def _decoded_or_corrupt(data: bytes) -> list[dict] | None:
    """The decoded records, after checking what every reader of them relies on."""
    try:
        records, valid_length = decode_records(data, "journal")
    except JournalCorruptError:
        return None
    assert 0 <= valid_length <= len(data)
    still_pending(records)
    upload_starts(records)
    return records


@modest
@given(records=st.lists(_records(), max_size=8))
def test_records_round_trip(records):
    data = _journal(records)
    assert decode_records(data, "journal") == (records, len(data))


@modest
@given(records=st.lists(_records(), min_size=1, max_size=8), cut=st.data())
def test_a_torn_tail_is_cut_off_and_the_records_before_it_kept(records, cut):
    data = _journal(records)
    length = cut.draw(st.integers(0, len(data)))
    decoded, valid_length = decode_records(data[:length], "journal")
    assert decoded == records[:len(decoded)]
    assert valid_length == len(_journal(decoded))
    if len(decoded) < len(records):
        assert length - valid_length < len(encode_record(records[len(decoded)]))


@modest
@given(records=st.lists(_records(), min_size=1, max_size=8), edit=st.data())
def test_a_record_damaged_in_place_yields_a_prefix_or_raises(records, edit):
    decoded = _decoded_or_corrupt(edit.draw(damaged(_journal(records), IN_PLACE)))
    assert decoded is None or decoded == records[:len(decoded)]


@modest
@given(records=st.lists(_records(), min_size=1, max_size=8), edit=st.data())
def test_any_damage_returns_only_records_that_were_written(records, edit):
    decoded = _decoded_or_corrupt(edit.draw(damaged(_journal(records))))
    assert decoded is None or all(record in records for record in decoded)


@modest
@given(data=st.binary(max_size=2000))
def test_any_bytes_decode_or_raise_journal_corrupt_error(data):
    _decoded_or_corrupt(data)


@modest
@given(values=st.lists(json_values(), max_size=4), last=_records())
def test_a_checksummed_line_of_any_json_decodes_or_raises(values, last):
    lines = []
    for value in values:
        payload = json.dumps(value).encode()
        lines.append(b"%08x %s\n" % (zlib.crc32(payload), payload))
    _decoded_or_corrupt(b"".join(lines) + encode_record(last))


def test_a_deeply_nested_record_is_damage_not_a_crash():
    payload = b"[" * 100_000
    line = b"%08x %s\n" % (zlib.crc32(payload), payload)
    assert decode_records(line, "journal") == ([], 0)
