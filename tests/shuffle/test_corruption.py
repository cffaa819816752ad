"""A damaged shuffle block is detected by its checksum and never returned, on every backend."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tierfs.shuffle import CorruptShuffleBlockError


def _id() -> str:
    return f"x-{uuid.uuid4().hex[:12]}"


def _flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1:]


def _shuffle_with_data(service):
    shuffle = service.create(_id(), 2)
    with shuffle.map_writer(0, 3) as writer:
        writer.write(0, b"zero" * 1000)
        writer.write(1, b"one!" * 1000)
        record = writer.commit()
    return shuffle, record


@pytest.mark.parametrize("compression", ["lz4", None])
def test_a_flipped_byte_in_a_local_map_output_names_map_attempt_and_partition(
        open_backend, tmp_path, compression):
    shuffle, record = _shuffle_with_data(open_backend("local", compression=compression))
    path = tmp_path / "shuffle" / shuffle.shuffle_id / record.object
    start, end = record.byte_range(1)
    path.write_bytes(_flip(path.read_bytes(), end - 3))
    assert shuffle.reader(0).read_bytes() == b"zero" * 1000  # the other partition is intact
    with pytest.raises(CorruptShuffleBlockError, match="map 0 attempt 3 partition 1"):
        shuffle.reader(1).read_bytes()


def test_a_flipped_byte_in_an_object_store_map_output_is_detected(open_backend, s3, bucket):
    shuffle, record = _shuffle_with_data(open_backend("s3"))
    path = f"{bucket}/shuffle/{shuffle.shuffle_id}/{record.object}"
    s3.pipe_file(path, _flip(s3.cat_file(path), record.byte_range(0)[0] + 20))
    with pytest.raises(CorruptShuffleBlockError, match="partition 0"):
        shuffle.reader(0).read_bytes()


def test_a_truncated_map_output_is_detected(open_backend, tmp_path):
    shuffle, record = _shuffle_with_data(open_backend("local"))
    path = tmp_path / "shuffle" / shuffle.shuffle_id / record.object
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(CorruptShuffleBlockError, match="shorter than its commit record"):
        shuffle.reader(1).read_bytes()


def test_a_flipped_byte_in_a_merged_daemon_partition_is_detected(open_backend, shuffle_daemon):
    shuffle, _ = _shuffle_with_data(open_backend("daemon", compression=None))
    path = Path(shuffle_daemon.shuffle_dir) / shuffle.shuffle_id / "p1.data"
    data = path.read_bytes()
    path.write_bytes(_flip(data, len(data) // 2))
    with pytest.raises(CorruptShuffleBlockError, match="checksum mismatch .* partition 1"):
        shuffle.reader(1).read_bytes()


def test_the_daemon_refuses_a_corrupt_push_and_appends_nothing(open_backend, shuffle_daemon):
    from tierfs.shuffle.compression import Compressor
    from tierfs.shuffle.frames import CODEC_NONE, BlockId, encode_block

    service = open_backend("daemon")
    shuffle = service.create(_id(), 1)
    header, payload = encode_block(BlockId(0, 0, 0), 0, 0, b"payload" * 10,
                                   Compressor(CODEC_NONE).compress)
    damaged = header + _flip(payload, 5)
    route = f"/v1/shuffle/{shuffle.shuffle_id}/push"
    with pytest.raises(ValueError, match="checksum mismatch"):
        service.client(None).call("POST", route, data=damaged)
    assert not (Path(shuffle_daemon.shuffle_dir) / shuffle.shuffle_id / "p0.data").exists()
