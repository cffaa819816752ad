"""EC manifests: encode then decode is identity; any other bytes raise ``ManifestCorruptError``.

A catalog falls back to another copy only on that error, so any other exception from one
damaged copy would fail the whole read.
"""

from __future__ import annotations

import json

import xxhash
from hypothesis import given
from hypothesis import strategies as st

from tests.properties.strategies import damaged, json_values, modest
from tierfs.ec.manifest import FORMAT, Manifest, ManifestCorruptError

names = st.text(max_size=30)
counts = st.integers(0, 2**63 - 1)


@st.composite
def manifests(draw) -> Manifest:
    k, m = draw(st.integers(1, 8)), draw(st.integers(0, 4))
    stripes = draw(st.integers(0, 3))
    return Manifest(
        path=draw(names), size=draw(counts), k=k, m=m, cell_size=draw(st.integers(1, 2**30)),
        backend=draw(names), header_size=draw(st.integers(0, 4096)),
        tail_cell=draw(counts), file_id=draw(names), created=draw(counts),
        version=draw(counts), targets=tuple(draw(st.lists(names, min_size=k + m,
                                                          max_size=k + m))),
        checksums=tuple(tuple(draw(st.lists(st.text("0123456789abcdef", min_size=16,
                                                    max_size=16), min_size=stripes,
                                            max_size=stripes)))
                        for _ in range(k + m)),
    )


def _parses_or_raises(data: bytes) -> Manifest | None:
    try:
        return Manifest.from_bytes(data)
    except ManifestCorruptError:
        return None


@modest
@given(manifest=manifests())
def test_a_manifest_round_trips(manifest):
    assert Manifest.from_bytes(manifest.to_bytes()) == manifest


@modest
@given(data=st.binary(max_size=2000))
def test_any_bytes_are_a_manifest_or_raise_manifest_corrupt_error(data):
    _parses_or_raises(data)


@modest
@given(manifest=manifests(), edit=st.data())
def test_a_damaged_manifest_decodes_to_the_original_or_raises(manifest, edit):
    data = edit.draw(damaged(manifest.to_bytes()))
    assert _parses_or_raises(data) in (None, manifest)


@modest
@given(envelope=json_values(), body=json_values())
def test_any_json_envelope_or_body_with_a_good_checksum_parses_or_raises(envelope, body):
    _parses_or_raises(json.dumps(envelope).encode())
    text = json.dumps(body)
    _parses_or_raises(json.dumps({"format": FORMAT, "body": text,
                                  "xxh3": xxhash.xxh3_64_hexdigest(text.encode())}).encode())


@modest
@given(manifest=manifests(), field=st.sampled_from(sorted(Manifest.__dataclass_fields__)),
       value=json_values(4))
def test_a_checksummed_body_with_a_field_of_any_value_parses_or_raises(manifest, field, value):
    fields = json.loads(json.loads(manifest.to_bytes())["body"])
    fields[field] = value
    text = json.dumps(fields)
    _parses_or_raises(json.dumps({"format": FORMAT, "body": text,
                                  "xxh3": xxhash.xxh3_64_hexdigest(text.encode())}).encode())


def test_a_deeply_nested_manifest_raises_manifest_corrupt_error():
    assert _parses_or_raises(b"[" * 100_000) is None
