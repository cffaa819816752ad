"""One map attempt's output sorted by partition, as Spark's sort shuffle writes it.

Writes are held per partition up to ``buffer_size`` bytes in all; past that, every
partition's blocks go to an unnamed spill file (gone with the process, even on SIGKILL),
and at commit the spills and what is still held are written out in partition order, so
memory never grows with the map's output.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable

from tierfs.shuffle.compression import Compressor
from tierfs.shuffle.frames import BlockId
from tierfs.shuffle.payloads import PartitionBuffer

_COPY_CHUNK = 4 * 2**20


class SortedMapOutput:
    def __init__(self, map_id: int, attempt: int, num_partitions: int, *, codec: int,
                 block_size: int, buffer_size: int, spill_dir: str | None):
        self.map_id, self.attempt, self.num_partitions = map_id, attempt, num_partitions
        self.compressor = Compressor(codec)
        self.block_size, self.buffer_size = block_size, buffer_size
        self.spill_dir = spill_dir
        self._buffers: dict[int, PartitionBuffer] = {}
        self._held = 0
        self._spill = None
        self._spill_end = 0
        self._segments: dict[int, list[tuple[int, int]]] = {}
        self._spilled_blocks: dict[int, int] = {}

    def add(self, partition: int, data) -> None:
        buffer = self._buffers.get(partition)
        if buffer is None:
            block_id = BlockId(self.map_id, self.attempt, partition)
            buffer = self._buffers[partition] = PartitionBuffer(block_id, self.compressor,
                                                                self.block_size)
        before = buffer.pending_bytes + buffer.encoded_bytes
        buffer.add(data)
        self._held += buffer.pending_bytes + buffer.encoded_bytes - before
        if self._held > self.buffer_size:
            self._spill_all()

    def _spill_all(self) -> None:
        if self._spill is None:
            self._spill = tempfile.TemporaryFile(dir=self.spill_dir, prefix="tierfs-spill-")
        for partition in sorted(self._buffers):
            buffer = self._buffers[partition]
            buffer.cut()
            parts = buffer.take_encoded()
            if parts:
                length = os.writev(self._spill.fileno(), parts)
                self._check_written(length, parts)
                self._segments.setdefault(partition, []).append((self._spill_end, length))
                self._spill_end += length
        self._held = 0

    @staticmethod
    def _check_written(length: int, parts: list) -> None:
        if length != sum(len(part) for part in parts):
            raise OSError("short write to the shuffle spill file")

    def write_sorted(self, write: Callable[[object], object]) -> tuple[tuple, tuple]:
        """Hand the output to ``write`` in partition order; blocks and offsets per partition."""
        offsets, blocks, position = [], [], 0
        for partition in range(self.num_partitions):
            offsets.append(position)
            for start, length in self._segments.get(partition, ()):
                position += self._copy_spilled(start, length, write)
            buffer = self._buffers.get(partition)
            if buffer is not None:
                buffer.cut()
                for part in buffer.take_encoded():
                    write(part)
                    position += len(part)
            blocks.append(buffer.sequence if buffer is not None else 0)
        offsets.append(position)
        self.close()
        return tuple(blocks), tuple(offsets)

    def _copy_spilled(self, start: int, length: int, write: Callable[[object], object]) -> int:
        for offset in range(start, start + length, _COPY_CHUNK):
            want = min(_COPY_CHUNK, start + length - offset)
            chunk = os.pread(self._spill.fileno(), want, offset)
            if len(chunk) != want:
                raise OSError("shuffle spill file is shorter than written")
            write(chunk)
        return length

    def close(self) -> None:
        self._buffers.clear()
        self._held = 0
        if self._spill is not None:
            self._spill.close()
            self._spill = None
