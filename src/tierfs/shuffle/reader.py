"""Reading a partition: only the winning attempts' blocks, each once, in order, each verified.

Backends hand over raw frames, grouped by map (one range per map output) or interleaved
(a partition file merged by the daemon). ``BlockChecker`` keeps the rules in one place:
foreign attempts are skipped, repeated blocks (a retried push) dropped, a gap or a short
map is an error naming the map; so a reader returns exactly the committed rows or raises.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator

import pyarrow as pa

from tierfs.shuffle.errors import CorruptShuffleBlockError, MissingMapOutputError
from tierfs.shuffle.frames import HEADER_SIZE, Block, decode_block
from tierfs.shuffle.payloads import block_batches, block_bytes
from tierfs.shuffle.records import CommitRecord

_IDS = struct.Struct("<QQII")  # map, attempt, partition, sequence at offset 8 of a header


class BlockChecker:
    """Which frames of a partition to return, and whether all of them arrived."""

    def __init__(self, shuffle_id: str, partition: int, records: list[CommitRecord],
                 interleaved: bool):
        self.shuffle_id, self.partition, self.interleaved = shuffle_id, partition, interleaved
        self._expected = {r.map_id: (r.attempt, r.blocks[partition]) for r in records}
        self._next = dict.fromkeys(self._expected, 0)

    def accept(self, frame: memoryview, where: str) -> Block | None:
        """The verified block of ``frame``, or None when it is not to be returned."""
        if len(frame) < HEADER_SIZE:
            raise CorruptShuffleBlockError(f"truncated shuffle block header in {where}")
        map_id, attempt, partition, sequence = _IDS.unpack_from(frame, 8)
        expected = self._expected.get(map_id)
        if expected is None or expected[0] != attempt or partition != self.partition:
            if self.interleaved:  # another attempt's block: not part of the result
                return None
            raise CorruptShuffleBlockError(
                f"shuffle {self.shuffle_id!r}: found a block of map {map_id} attempt {attempt} "
                f"partition {partition} where partition {self.partition} of the committed "
                f"attempt was expected, in {where}")
        wanted = self._next[map_id]
        if sequence < wanted:
            if self.interleaved:  # a push that was retried after it had landed
                return None
            raise CorruptShuffleBlockError(f"shuffle {self.shuffle_id!r}: block #{sequence} of "
                                           f"map {map_id} repeated in {where}")
        if sequence > wanted:
            raise MissingMapOutputError(self.shuffle_id, self.partition, [map_id],
                                        f"block #{wanted} of attempt {attempt} is missing")
        block = decode_block(frame, where)
        self._next[map_id] += 1
        return block

    def finish(self, map_ids: Iterable[int] | None = None) -> None:
        """Every winning block arrived (of ``map_ids``, or of all maps)."""
        maps = self._expected if map_ids is None else map_ids
        short = [m for m in maps if self._next[m] != self._expected[m][1]]
        if short:
            details = "; ".join(f"map {m} attempt {self._expected[m][0]}: "
                                f"{self._next[m]} of {self._expected[m][1]} blocks"
                                for m in short[:5])
            raise MissingMapOutputError(self.shuffle_id, self.partition, short,
                                        f"blocks lost ({details})")


class PartitionReader:
    """One reducer's view of one partition; ``blocks`` yields its verified blocks."""

    def __init__(self, shuffle_id: str, partition: int, records: list[CommitRecord],
                 blocks: Callable[[], Iterator[Block]]):
        self.shuffle_id, self.partition, self.records = shuffle_id, partition, records
        self._blocks = blocks

    def iter_bytes(self) -> Iterator[bytes | memoryview]:
        """Each map's bytes in write order, chunked; maps in map order from file backends,
        in the order their blocks arrived from the daemon."""
        for block in self._blocks():
            yield block_bytes(block)

    def iter_batches(self) -> Iterator[pa.RecordBatch]:
        for block in self._blocks():
            yield from block_batches(block)

    def read_table(self, schema: pa.Schema | None = None) -> pa.Table:
        """All rows of the partition; with no rows, an empty table of ``schema`` (if given)."""
        batches = list(self.iter_batches())
        if not batches:
            return schema.empty_table() if schema is not None else pa.table({})
        try:
            return pa.Table.from_batches(batches)
        except pa.ArrowInvalid as error:
            raise ValueError(f"shuffle {self.shuffle_id!r} partition {self.partition}: "
                             f"maps wrote different schemas ({error})") from None

    def read_bytes(self) -> bytes:
        return b"".join(self.iter_bytes())
