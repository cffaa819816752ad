"""What a partition holds: user writes (bytes or Arrow) cut into blocks, and blocks turned back.

A partition of one map takes either bytes (returned concatenated, in write order) or
Arrow record batches of one schema (serialised as Arrow IPC streams, zero-copy on read);
writes are gathered until ``block_size`` raw bytes, so blocks are neither tiny nor huge.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from tierfs.shuffle.compression import Compressor
from tierfs.shuffle.frames import KIND_ARROW, KIND_BYTES, Block, BlockId, encode_block


class PartitionBuffer:
    """Pending writes of one (map attempt, partition) and the blocks cut from them so far."""

    __slots__ = ("block_id", "compressor", "block_size", "kind", "schema", "sequence",
                 "_pending", "pending_bytes", "encoded", "encoded_bytes")

    def __init__(self, block_id: BlockId, compressor: Compressor, block_size: int):
        self.block_id, self.compressor, self.block_size = block_id, compressor, block_size
        self.kind: int | None = None
        self.schema: pa.Schema | None = None
        self.sequence = 0  # blocks cut so far, the next block's sequence number
        self._pending: list = []
        self.pending_bytes = 0
        self.encoded: list = []  # header and payload of each cut block, in order
        self.encoded_bytes = 0

    def add(self, data) -> None:
        if isinstance(data, pa.Table | pa.RecordBatch):
            self._expect(KIND_ARROW, data.schema)
            batches = data.to_batches() if isinstance(data, pa.Table) else [data]
            for batch in batches:
                if batch.num_rows:
                    self._pending.append(batch)
                    self.pending_bytes += batch.nbytes
        elif isinstance(data, bytes | bytearray | memoryview):
            self._expect(KIND_BYTES, None)
            if len(data):
                self._pending.append(bytes(data))
                self.pending_bytes += len(data)
        else:
            raise TypeError(f"shuffle data: expected bytes or an Arrow RecordBatch/Table, "
                            f"got {type(data).__name__}")
        if self.pending_bytes >= self.block_size:
            self.cut()

    def _expect(self, kind: int, schema: pa.Schema | None) -> None:
        partition = self.block_id.partition
        if self.kind is None:
            self.kind, self.schema = kind, schema
        elif self.kind != kind:
            raise TypeError(f"partition {partition}: cannot mix bytes and Arrow data "
                            "in one map output")
        elif schema is not None and not schema.equals(self.schema):
            raise ValueError(f"partition {partition}: schema differs from earlier writes "
                             f"({schema} vs {self.schema})")

    def cut(self) -> None:
        """Encode whatever is pending as one block."""
        if not self._pending:
            return
        if self.kind == KIND_ARROW:
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, self.schema) as stream:
                for batch in self._pending:
                    stream.write_batch(batch)
            raw = sink.getvalue()
        else:
            raw = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        parts = encode_block(self.block_id, self.sequence, self.kind, raw,
                             self.compressor.compress)
        self.sequence += 1
        self.encoded += parts
        self.encoded_bytes += sum(len(part) for part in parts)
        self._pending.clear()
        self.pending_bytes = 0

    def take_encoded(self) -> list:
        """The encoded blocks, handed over and forgotten (pending writes stay pending)."""
        parts, self.encoded, self.encoded_bytes = self.encoded, [], 0
        return parts


class MapBuffers:
    """Every partition one map attempt holds in memory, and how many bytes that is.

    Both the sort-based writer (which spills them) and the daemon's (which pushes them)
    hold their writes here."""

    def __init__(self, map_id: int, attempt: int, codec: int, block_size: int):
        self.map_id, self.attempt, self.block_size = map_id, attempt, block_size
        self.compressor = Compressor(codec)
        self._buffers: dict[int, PartitionBuffer] = {}
        self.held = 0  # pending and encoded bytes of every partition

    def add(self, partition: int, data) -> int:
        """Hold ``data`` for ``partition``; the bytes held in all afterwards."""
        buffer = self._buffers.get(partition)
        if buffer is None:
            buffer = self._buffers[partition] = PartitionBuffer(
                BlockId(self.map_id, self.attempt, partition), self.compressor, self.block_size)
        before = buffer.pending_bytes + buffer.encoded_bytes
        buffer.add(data)
        self.held += buffer.pending_bytes + buffer.encoded_bytes - before
        return self.held

    def take(self, partition: int) -> list:
        """Everything ``partition`` holds, as encoded blocks, handed over."""
        buffer = self._buffers.get(partition)
        if buffer is None:
            return []
        self.held -= buffer.pending_bytes + buffer.encoded_bytes  # it holds nothing after
        buffer.cut()
        return buffer.take_encoded()

    def take_all(self) -> Iterator[tuple[int, list]]:
        """Every partition's encoded blocks, in partition order, handed over."""
        for partition in sorted(self._buffers):
            if parts := self.take(partition):
                yield partition, parts

    def blocks(self, num_partitions: int) -> tuple[int, ...]:
        """Blocks cut so far for each partition."""
        return tuple(self._buffers[p].sequence if p in self._buffers else 0
                     for p in range(num_partitions))

    def clear(self) -> None:
        self._buffers.clear()
        self.held = 0


def block_bytes(block: Block) -> bytes | memoryview:
    if block.kind != KIND_BYTES:
        raise TypeError(f"{block.id.describe()} holds Arrow data: use iter_batches() "
                        "or read_table()")
    return block.data


def block_batches(block: Block) -> Iterator[pa.RecordBatch]:
    if block.kind != KIND_ARROW:
        raise TypeError(f"{block.id.describe()} holds bytes: use iter_bytes()")
    yield from pa.ipc.open_stream(pa.py_buffer(block.data))
