"""One map attempt's output sorted by partition, as Spark's sort shuffle writes it.

Writes are held per partition up to ``buffer_size`` bytes in all; past that, every
partition's blocks go to an unnamed spill file (gone with the process, even on SIGKILL),
and at commit the spills and what is still held are written out in partition order, so
memory never grows with the map's output.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

from tierfs.shuffle.payloads import MapBuffers

_COPY_CHUNK = 4 * 2**20


class SortedMapOutput:
    def __init__(self, map_id: int, attempt: int, num_partitions: int, *, codec: int,
                 block_size: int, buffer_size: int, spill_dir: str | None):
        self.num_partitions, self.buffer_size, self.spill_dir = (num_partitions, buffer_size,
                                                                 spill_dir)
        self._held = MapBuffers(map_id, attempt, codec, block_size)
        self._spill = None
        self._spill_end = 0
        self._segments: dict[int, list[tuple[int, int]]] = {}
        self.offsets: tuple[int, ...] = ()
        self.blocks: tuple[int, ...] = ()

    def add(self, partition: int, data) -> None:
        if self._held.add(partition, data) > self.buffer_size:
            self._spill_all()

    def _spill_all(self) -> None:
        if self._spill is None:
            self._spill = tempfile.TemporaryFile(dir=self.spill_dir, prefix="tierfs-spill-")
        for partition, parts in self._held.take_all():
            length = os.writev(self._spill.fileno(), parts)
            if length != sum(len(part) for part in parts):
                raise OSError("short write to the shuffle spill file")
            self._segments.setdefault(partition, []).append((self._spill_end, length))
            self._spill_end += length

    @property
    def nbytes(self) -> int:
        """About the bytes the output will have: what it holds in memory and has spilled."""
        return self._held.held + self._spill_end

    def sorted_parts(self) -> Iterator[object]:
        """The output's buffers in partition order, for one pass; once it is exhausted,
        ``offsets`` gives where each partition starts (and the end), ``blocks`` their count."""
        offsets, position = [], 0
        for partition in range(self.num_partitions):
            offsets.append(position)
            for start, length in self._segments.get(partition, ()):
                for chunk in self._spilled(start, length):
                    position += len(chunk)
                    yield chunk
            for part in self._held.take(partition):
                position += len(part)
                yield part
        offsets.append(position)
        self.offsets = tuple(offsets)
        self.blocks = self._held.blocks(self.num_partitions)
        self.close()

    def _spilled(self, start: int, length: int) -> Iterator[bytes]:
        for offset in range(start, start + length, _COPY_CHUNK):
            want = min(_COPY_CHUNK, start + length - offset)
            chunk = os.pread(self._spill.fileno(), want, offset)
            if len(chunk) != want:
                raise OSError("shuffle spill file is shorter than written")
            yield chunk

    def close(self) -> None:
        self._held.clear()
        if self._spill is not None:
            self._spill.close()
            self._spill = None
