"""Commit records: encode then decode is identity; anything else raises
``CorruptShuffleBlockError`` naming where it came from, or is a valid record."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from tests.properties.strategies import damaged, json_values, modest
from tierfs.shuffle.errors import CorruptShuffleBlockError
from tierfs.shuffle.records import MAX_ID, CommitRecord

ids = st.integers(0, MAX_ID)


@st.composite
def records(draw) -> tuple[CommitRecord, int]:
    partitions = draw(st.integers(0, 6))
    blocks = tuple(draw(st.lists(ids, min_size=partitions, max_size=partitions)))
    offsets = obj = None
    if draw(st.booleans()):
        offsets = tuple(sorted(draw(st.lists(ids, min_size=partitions + 1,
                                             max_size=partitions + 1))))
        obj = (f"maps/{draw(st.integers(0, 10**19 - 1))}.{draw(st.integers(0, 10**19 - 1))}."
               f"{draw(st.text('0123456789abcdef', min_size=8, max_size=32))}.data")
    record = CommitRecord(draw(st.text(max_size=30)), draw(ids), draw(ids), blocks, offsets, obj)
    return record, partitions


def _parsed_or_raises(data: bytes | str, partitions: int) -> CommitRecord | None:
    try:
        record = CommitRecord.from_json(data, "a property test", partitions)
    except CorruptShuffleBlockError as error:
        assert "a property test" in str(error)
        return None
    assert len(record.blocks) == partitions
    return record


@modest
@given(drawn=records())
def test_a_commit_record_round_trips(drawn):
    record, partitions = drawn
    assert CommitRecord.from_json(record.to_json(), "a property test", partitions) == record


@modest
@given(data=st.binary(max_size=500) | json_values().map(json.dumps),
       partitions=st.integers(0, 8))
def test_any_bytes_or_json_are_a_record_or_raise_corrupt_shuffle_block_error(data, partitions):
    _parsed_or_raises(data, partitions)


@modest
@given(drawn=records(), field=st.sampled_from(["shuffle_id", "map_id", "attempt", "blocks",
                                               "offsets", "object"]), value=json_values(4))
def test_a_record_with_a_field_of_any_value_parses_or_raises(drawn, field, value):
    record, partitions = drawn
    fields = json.loads(record.to_json()) | {field: value}
    _parsed_or_raises(json.dumps(fields), partitions)


@modest
@given(drawn=records(), edit=st.data())
def test_a_damaged_record_parses_to_a_valid_record_or_raises(drawn, edit):
    record, partitions = drawn
    _parsed_or_raises(edit.draw(damaged(record.to_json())), partitions)


def test_a_deeply_nested_record_raises_corrupt_shuffle_block_error():
    assert _parsed_or_raises(b"[" * 100_000, 1) is None
