"""The shuffle API every backend implements: services hold shuffles, maps write, reducers read.

``ShuffleService.create``/``get`` give a ``Shuffle``; ``Shuffle.map_writer`` gives a
``MapWriter`` for one attempt of one map; ``Shuffle.reader`` resolves which attempt of
each map counts and returns a ``PartitionReader``. Backends supply storage and transport.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from tierfs.shuffle.errors import ShuffleCommitError
from tierfs.shuffle.frames import CODECS, Block
from tierfs.shuffle.reader import PartitionReader
from tierfs.shuffle.records import CommitRecord, check_id, winners
from tierfs.sizes import parse_size

_SHUFFLE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_PARTITIONS = 2**31 - 1


@dataclass(frozen=True)
class ShuffleOptions:
    """How map outputs are written: ``compression`` ("lz4" or None), ``block_size`` (raw
    bytes per block), ``buffer_size`` (bytes a map writer holds before it spills or pushes),
    ``spill_dir`` (where spills go; the system's temporary directory by default)."""

    compression: str | None = "lz4"
    block_size: int = 2**20
    buffer_size: int = 64 * 2**20
    spill_dir: str | None = None

    @property
    def codec(self) -> int:
        return CODECS[self.compression]

    @classmethod
    def take(cls, options: dict) -> ShuffleOptions:
        """Remove and validate the shuffle's own keys from ``options``; the rest is the store's."""
        compression = options.pop("compression", "lz4")
        if compression not in CODECS:
            raise ValueError(f"compression: {compression!r} is not one of 'lz4', None")
        sizes = {}
        for key, default in (("block_size", cls.block_size), ("buffer_size", cls.buffer_size)):
            sizes[key] = parse_size(options.pop(key, default), key)
            if sizes[key] <= 0:
                raise ValueError(f"{key}: must be positive, got {sizes[key]}")
        spill_dir = options.pop("spill_dir", None)
        if spill_dir is not None and not isinstance(spill_dir, str):
            raise ValueError(f"spill_dir: expected a directory path, got {spill_dir!r}")
        return cls(compression, sizes["block_size"], sizes["buffer_size"], spill_dir)


@dataclass(frozen=True)
class ShuffleSummary:
    shuffle_id: str
    num_partitions: int
    committed_maps: int
    bytes: int


def check_shuffle_id(shuffle_id: object) -> str:
    if not isinstance(shuffle_id, str) or not _SHUFFLE_ID.match(shuffle_id):
        raise ValueError(f"shuffle_id: {shuffle_id!r} must be 1-128 letters, digits, '.', '_' "
                         "or '-', starting with a letter or digit")
    return shuffle_id


def check_partition_count(num_partitions: object) -> int:
    if (isinstance(num_partitions, bool) or not isinstance(num_partitions, int)
            or not 0 <= num_partitions <= MAX_PARTITIONS):
        raise ValueError(f"num_partitions: expected an integer in 0..{MAX_PARTITIONS}, "
                         f"got {num_partitions!r}")
    return num_partitions


class ShuffleService(ABC):
    url: str
    options: ShuffleOptions

    @abstractmethod
    def create(self, shuffle_id: str, num_partitions: int) -> Shuffle:
        """A new shuffle, or the existing one if it has the same number of partitions."""

    @abstractmethod
    def get(self, shuffle_id: str) -> Shuffle:
        """An existing shuffle; ``ShuffleNotFoundError`` names an unknown id."""

    @abstractmethod
    def list(self) -> list[ShuffleSummary]:
        """Every shuffle the service holds, with its size."""

    def delete(self, shuffle_id: str) -> None:
        self.get(shuffle_id).delete()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


class Shuffle(ABC):
    def __init__(self, service: ShuffleService, shuffle_id: str, num_partitions: int):
        self.service, self.shuffle_id, self.num_partitions = service, shuffle_id, num_partitions

    def __repr__(self) -> str:
        return f"Shuffle({self.shuffle_id!r}, {self.num_partitions} partitions, {self.service})"

    def check_partition(self, partition: object) -> int:
        if (isinstance(partition, bool) or not isinstance(partition, int)
                or not 0 <= partition < self.num_partitions):
            raise ValueError(f"partition {partition!r} is out of range: shuffle "
                             f"{self.shuffle_id!r} has partitions 0..{self.num_partitions - 1}")
        return partition

    @abstractmethod
    def map_writer(self, map_id: int, attempt: int = 0) -> MapWriter:
        """A writer for attempt ``attempt`` of map ``map_id``."""

    @abstractmethod
    def committed(self) -> list[CommitRecord]:
        """The winning commit record of every committed map."""

    @abstractmethod
    def _blocks(self, partition: int, records: list[CommitRecord]) -> Iterator[Block]:
        """The verified blocks of ``partition`` written by ``records``' attempts."""

    @abstractmethod
    def delete(self) -> None:
        """Remove the shuffle and every map output, committed or not."""

    def reader(self, partition: int, map_ids: Iterable[int] | None = None,
               commits: Iterable[CommitRecord] | None = None) -> PartitionReader:
        """Partition ``partition`` as written by the winning attempt of each map.

        ``map_ids``: the maps that must be found (a missing one raises); None reads every
        committed map. ``commits``: winners named by the engine (the records ``commit()``
        returned); without them the service is asked.
        """
        partition = self.check_partition(partition)
        found = self.committed() if commits is None else commits
        records = winners(self.shuffle_id, partition, found, map_ids)
        return PartitionReader(self.shuffle_id, partition, records,
                               lambda: self._blocks(partition, records))


class MapWriter(ABC):
    """One attempt of one map: ``write`` any number of times, then ``commit`` or ``abort``.

    Used as a context manager it aborts unless committed; writing after commit or abort
    is an error naming the map and attempt.
    """

    def __init__(self, shuffle: Shuffle, map_id: int, attempt: int):
        self.shuffle = shuffle
        self.map_id = check_id(map_id, "map_id")
        self.attempt = check_id(attempt, "attempt")
        self.state = "open"

    def _check_open(self, action: str) -> None:
        if self.state != "open":
            raise ShuffleCommitError(f"cannot {action}: the writer of map {self.map_id} "
                                     f"attempt {self.attempt} is already {self.state}")

    def write(self, partition: int, data) -> None:
        self._check_open("write")
        self._write(self.shuffle.check_partition(partition), data)

    def commit(self) -> CommitRecord:
        """Make this attempt's output visible; returns the winning record of the map."""
        self._check_open("commit")
        try:
            record = self._commit()
        except BaseException:
            self.abort()
            raise
        self.state = "committed"
        return record

    def abort(self) -> None:
        """Drop this attempt's output; it is never read."""
        if self.state == "open":
            self.state = "aborted"
            self._abort()

    def __enter__(self) -> MapWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.abort()

    @abstractmethod
    def _write(self, partition: int, data) -> None: ...

    @abstractmethod
    def _commit(self) -> CommitRecord: ...

    @abstractmethod
    def _abort(self) -> None: ...
