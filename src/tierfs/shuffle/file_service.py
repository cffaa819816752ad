"""Sort-based shuffle on files: one object per map attempt, a commit record per map.

Layout under the service's root::

    <shuffle>/_shuffle.json                    number of partitions
    <shuffle>/maps/<map>.<attempt>.<nonce>.data  blocks sorted by partition
    <shuffle>/commits/<map>.json               the winning attempt's record

A map output is written under a name no other writer uses, and becomes visible only
when its record is created exclusively; the loser of a race deletes its own output.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

from tierfs.shuffle.errors import CorruptShuffleBlockError, ShuffleNotFoundError
from tierfs.shuffle.frames import Block, FrameSplitter
from tierfs.shuffle.map_output import SortedMapOutput
from tierfs.shuffle.reader import BlockChecker
from tierfs.shuffle.records import CommitRecord
from tierfs.shuffle.service import (
    MapWriter,
    Shuffle,
    ShuffleOptions,
    ShuffleService,
    ShuffleSummary,
    check_partition_count,
    check_shuffle_id,
)
from tierfs.shuffle.storage import FsspecStorage, LocalStorage

_META = "_shuffle.json"


class FileShuffleService(ShuffleService):
    def __init__(self, storage: LocalStorage | FsspecStorage, options: ShuffleOptions):
        self.storage, self.options, self.url = storage, options, storage.url

    def create(self, shuffle_id: str, num_partitions: int) -> FileShuffle:
        check_shuffle_id(shuffle_id)
        check_partition_count(num_partitions)
        meta = json.dumps({"num_partitions": num_partitions}).encode()
        if not self.storage.create_exclusive(self.storage.join(shuffle_id, _META), meta):
            existing = self.get(shuffle_id)
            if existing.num_partitions != num_partitions:
                raise ValueError(f"shuffle {shuffle_id!r} exists with "
                                 f"{existing.num_partitions} partitions, not {num_partitions}")
            return existing
        return FileShuffle(self, shuffle_id, num_partitions)

    def get(self, shuffle_id: str) -> FileShuffle:
        check_shuffle_id(shuffle_id)
        try:
            meta = json.loads(self.storage.read_file(self.storage.join(shuffle_id, _META)))
        except FileNotFoundError:
            raise ShuffleNotFoundError(f"no shuffle {shuffle_id!r} in {self.url}") from None
        except ValueError:
            raise CorruptShuffleBlockError(f"unreadable {_META} of shuffle {shuffle_id!r}") \
                from None
        return FileShuffle(self, shuffle_id, check_partition_count(meta.get("num_partitions")))

    def shuffles(self) -> Iterator[FileShuffle]:
        """Every shuffle under the root (other entries are skipped)."""
        for name in self.storage.listdir(self.storage.root):
            try:
                yield self.get(name)
            except (ValueError, FileNotFoundError, CorruptShuffleBlockError):
                continue  # not a shuffle

    def list(self) -> list[ShuffleSummary]:
        return [ShuffleSummary(shuffle.shuffle_id, shuffle.num_partitions,
                               len(shuffle.commit_names()),
                               self.storage.disk_usage(shuffle.path()))
                for shuffle in self.shuffles()]


class FileShuffle(Shuffle):
    service: FileShuffleService

    def __init__(self, service: FileShuffleService, shuffle_id: str, num_partitions: int):
        super().__init__(service, shuffle_id, num_partitions)
        self.storage = service.storage

    def path(self, *parts: str) -> str:
        return self.storage.join(self.shuffle_id, *parts)

    def map_writer(self, map_id: int, attempt: int = 0) -> FileMapWriter:
        return FileMapWriter(self, map_id, attempt)

    def commit_names(self) -> list[str]:
        """The names of the commit records, one per committed map (read none of them)."""
        return [n for n in self.storage.listdir(self.path("commits")) if n.endswith(".json")]

    def committed(self) -> list[CommitRecord]:
        names = self.commit_names()
        paths = [self.path("commits", name) for name in names]
        return [CommitRecord.from_json(data, f"{self.shuffle_id}/commits/{name}",
                                       self.num_partitions)
                for name, data in zip(names, self.storage.read_files(paths), strict=True)]

    def _blocks(self, partition: int, records: list[CommitRecord]) -> Iterator[Block]:
        checker = BlockChecker(self.shuffle_id, partition, records, interleaved=False)
        requests = [(self.path(r.object), *r.byte_range(partition)) for r in records]
        splitters = [FrameSplitter(f"{self.shuffle_id}/{r.object}") for r in records]
        done = 0
        for index, chunk in self.storage.read_ranges(requests):
            for finished in range(done, index):  # ranges arrive in order
                self._finish(checker, splitters[finished], records[finished])
            done = index
            for frame in splitters[index].feed(chunk):
                block = checker.accept(frame, splitters[index].where)
                if block is not None:
                    yield block
        for finished in range(done, len(records)):
            self._finish(checker, splitters[finished], records[finished])

    @staticmethod
    def _finish(checker: BlockChecker, splitter: FrameSplitter, record: CommitRecord) -> None:
        splitter.finish()
        checker.finish([record.map_id])

    def delete(self) -> None:
        self.storage.delete(self.path())


class FileMapWriter(MapWriter):
    shuffle: FileShuffle

    def __init__(self, shuffle: FileShuffle, map_id: int, attempt: int):
        super().__init__(shuffle, map_id, attempt)
        options = shuffle.service.options
        self.object = f"maps/{map_id}.{attempt}.{os.urandom(8).hex()}.data"
        self._output = SortedMapOutput(
            map_id, attempt, shuffle.num_partitions, codec=options.codec,
            block_size=options.block_size, buffer_size=options.buffer_size,
            spill_dir=options.spill_dir)

    def _write(self, partition: int, data) -> None:
        self._output.add(partition, data)

    def _commit(self) -> CommitRecord:
        shuffle, storage = self.shuffle, self.shuffle.storage
        path = shuffle.path(self.object)
        output = self._output
        storage.write_object(path, output.sorted_parts(), output.nbytes)
        record = CommitRecord(shuffle.shuffle_id, self.map_id, self.attempt, output.blocks,
                              output.offsets, self.object)
        marker = shuffle.path("commits", f"{self.map_id}.json")
        if storage.create_exclusive(marker, record.to_json()):
            self._remove_other_attempts()
            return record
        storage.delete(path)  # another attempt won: this output is never read
        return CommitRecord.from_json(storage.read_file(marker), marker, shuffle.num_partitions)

    def _remove_other_attempts(self) -> None:
        """Outputs of killed or losing attempts of this map are never read: reclaim them."""
        prefix = f"{self.map_id}."
        for name in self.shuffle.storage.listdir(self.shuffle.path("maps")):
            if name.startswith(prefix) and f"maps/{name}" != self.object:
                self.shuffle.storage.delete(self.shuffle.path("maps", name))

    def _abort(self) -> None:
        self._output.close()
        self.shuffle.storage.delete(self.shuffle.path(self.object))
