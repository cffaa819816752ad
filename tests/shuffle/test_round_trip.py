"""Every backend returns exactly what the committed maps wrote: bytes and Arrow, any shape."""

from __future__ import annotations

import uuid

import pyarrow as pa
import pytest


def _id() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def _table(map_id: int, partition: int, rows: int) -> pa.Table:
    return pa.table({"map": pa.array([map_id] * rows, pa.int64()),
                     "partition": pa.array([partition] * rows, pa.int32()),
                     "row": pa.array(range(rows), pa.int64()),
                     "text": pa.array([f"m{map_id}p{partition}r{r}" for r in range(rows)])})


@pytest.mark.parametrize("compression", ["lz4", None])
def test_bytes_come_back_per_map_in_write_order(open_backend, backend, compression):
    service = open_backend(backend, compression=compression, block_size=1000)
    shuffle = service.create(_id(), 4)
    for map_id in range(3):
        with shuffle.map_writer(map_id) as writer:
            for i in range(200):
                writer.write(i % 4, f"<{map_id}:{i}>".encode())
            writer.commit()
    for partition in range(4):
        expected = b"".join(f"<{m}:{i}>".encode() for m in range(3)
                            for i in range(partition, 200, 4))
        assert shuffle.reader(partition, map_ids=range(3)).read_bytes() == expected


def test_arrow_tables_and_batches_round_trip(open_backend, backend):
    service = open_backend(backend, block_size=4096)
    shuffle = service.create(_id(), 3)
    for map_id in range(2):
        with shuffle.map_writer(map_id, attempt=5) as writer:
            for partition in range(3):
                table = _table(map_id, partition, 300)
                writer.write(partition, table.slice(0, 100))
                writer.write(partition, table.slice(100).to_batches()[0])
            writer.commit()
    for partition in range(3):
        got = shuffle.reader(partition, map_ids=[0, 1]).read_table()
        expected = pa.concat_tables([_table(m, partition, 300) for m in range(2)])
        assert got.equals(expected)


def test_one_partition_and_empty_maps(open_backend, backend):
    shuffle = open_backend(backend).create(_id(), 1)
    with shuffle.map_writer(0) as writer:
        writer.commit()  # a map with no rows at all
    with shuffle.map_writer(1) as writer:
        writer.write(0, _table(1, 0, 10))
        writer.commit()
    with shuffle.map_writer(2) as writer:
        writer.write(0, _table(2, 0, 0))  # an empty table writes nothing
        writer.commit()
    reader = shuffle.reader(0, map_ids=range(3))
    assert reader.read_table().equals(_table(1, 0, 10))
    assert list(shuffle.reader(0, map_ids=[0, 2]).iter_batches()) == []


def test_zero_partitions_accept_only_empty_maps(open_backend, backend):
    shuffle = open_backend(backend).create(_id(), 0)
    with shuffle.map_writer(0) as writer:
        with pytest.raises(ValueError, match="out of range"):
            writer.write(0, b"x")
        assert writer.commit().blocks == ()
    assert [r.map_id for r in shuffle.committed()] == [0]


@pytest.mark.parametrize("backend", ["local", "daemon"])
def test_a_thousand_partitions(open_backend, backend):
    shuffle = open_backend(backend).create(_id(), 1000)
    for map_id in range(3):
        with shuffle.map_writer(map_id) as writer:
            for partition in range(map_id, 1000, 2):  # every other partition stays empty
                writer.write(partition, f"{map_id}/{partition};".encode())
            writer.commit()
    for partition in (0, 1, 500, 998, 999):
        expected = b"".join(f"{m}/{partition};".encode() for m in range(3)
                            if partition >= m and (partition - m) % 2 == 0)
        assert shuffle.reader(partition, map_ids=range(3)).read_bytes() == expected


def test_a_map_larger_than_its_buffer_spills_and_reads_back_whole(open_backend, backend):
    service = open_backend(backend, buffer_size="256KiB", block_size="32KiB")
    shuffle = service.create(_id(), 5)
    payloads = {p: [] for p in range(5)}
    with shuffle.map_writer(0) as writer:
        for i in range(2000):  # ~2 MiB through a 256 KiB buffer
            chunk = (f"{i:06d}" * 170).encode()
            payloads[i % 5].append(chunk)
            writer.write(i % 5, chunk)
        record = writer.commit()
    assert all(count > 1 for count in record.blocks)
    for partition in range(5):
        assert shuffle.reader(partition, map_ids=[0]).read_bytes() == b"".join(payloads[partition])


def test_get_lists_and_deletes(open_backend, backend):
    service = open_backend(backend)
    shuffle_id = _id()
    shuffle = service.create(shuffle_id, 2)
    with shuffle.map_writer(0) as writer:
        writer.write(1, b"abc")
        writer.commit()
    assert service.create(shuffle_id, 2).num_partitions == 2  # creating again is harmless
    assert service.get(shuffle_id).reader(1).read_bytes() == b"abc"
    listed = {s.shuffle_id: s for s in service.list()}
    assert listed[shuffle_id].committed_maps == 1 and listed[shuffle_id].bytes > 0
    service.delete(shuffle_id)
    assert shuffle_id not in {s.shuffle_id for s in service.list()}
