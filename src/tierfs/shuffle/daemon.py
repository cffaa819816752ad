"""The node daemon as a shuffle service: maps push blocks, the daemon merges them per partition.

A partition belongs to one daemon of the peer set (rendezvous hashing of
``<shuffle>/<partition>``, as blocks of the read cache are placed), and a shuffle's
commit records to one coordinator (hashing of the shuffle id), so every reducer sees
the same winners. Mappers hold at most ``buffer_size`` bytes before pushing; a reducer
streams its partition from its owner in one sequential read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

from tierfs.daemon_client import DaemonClient
from tierfs.daemon_client import protocol as wire
from tierfs.ec.placement import rank_targets
from tierfs.shuffle.errors import ShuffleNotFoundError
from tierfs.shuffle.frames import Block, FrameSplitter
from tierfs.shuffle.payloads import MapBuffers
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

_PUSH_BYTES = 16 * 2**20  # a push request carries about this much


def daemon_address(url: str) -> str:
    """``daemon://`` → ``$TIERFS_DAEMON``; ``daemon+http://h:p`` → ``http://h:p``;
    ``daemon+unix:///run/tierfs.sock`` → the socket's path."""
    scheme, rest = url.split("://", 1)
    if scheme == "daemon":
        address = rest or os.environ.get(wire.DAEMON_ENV)
        if not address:
            raise ValueError(f"shuffle URL {url!r}: ${wire.DAEMON_ENV} is not set; give "
                             "daemon+http://host:port or daemon+unix:///path/to/socket")
        return address
    transport = scheme.removeprefix("daemon+")
    if transport in ("http", "https"):
        return f"{transport}://{rest}"
    if transport == "unix" and rest.startswith("/"):
        return rest
    raise ValueError(f"shuffle URL {url!r}: expected daemon://, daemon+http(s)://host:port "
                     "or daemon+unix:///path")


class DaemonShuffleService(ShuffleService):
    def __init__(self, url: str, options: ShuffleOptions, token: str | None = None, **unknown):
        if unknown:
            raise ValueError(f"{sorted(unknown)[0]}: unknown option of the daemon shuffle")
        self.url, self.options, self._token = url, options, token
        self._local = DaemonClient(daemon_address(url), token)
        described = self._local.describe()
        if not described.get("shuffle"):
            raise ValueError(f"shuffle URL {url!r}: the daemon has no [shuffle] section "
                             "in its configuration")
        self._self = described.get("self")
        self.members: list[str] = list(described.get("peers") or [])
        self._clients: dict[str, DaemonClient] = {}

    def client(self, member: str | None) -> DaemonClient:
        if member is None or member == self._self:
            return self._local
        if member not in self._clients:
            self._clients[member] = DaemonClient(member, self._token)
        return self._clients[member]

    def owner(self, key: str) -> str | None:
        """The member that owns ``key`` (None: the local daemon, the only one)."""
        return rank_targets(self.members, key)[0] if self.members else None

    def everyone(self) -> list[str | None]:
        return list(self.members) or [None]

    def create(self, shuffle_id: str, num_partitions: int) -> DaemonShuffle:
        check_shuffle_id(shuffle_id)
        check_partition_count(num_partitions)
        for member in self.everyone():
            self.client(member).call("POST", wire.SHUFFLE.format(shuffle_id=shuffle_id),
                                     json={"num_partitions": num_partitions})
        return DaemonShuffle(self, shuffle_id, num_partitions)

    def get(self, shuffle_id: str) -> DaemonShuffle:
        check_shuffle_id(shuffle_id)
        try:
            described = self.client(self.owner(shuffle_id)).call(
                "GET", wire.SHUFFLE.format(shuffle_id=shuffle_id))
        except FileNotFoundError:
            raise ShuffleNotFoundError(f"no shuffle {shuffle_id!r} in {self.url}") from None
        return DaemonShuffle(self, shuffle_id, described["num_partitions"])

    def list(self) -> list[ShuffleSummary]:
        merged: dict[str, ShuffleSummary] = {}
        for member in self.everyone():
            for raw in self.client(member).call("GET", wire.SHUFFLES):
                summary = ShuffleSummary(**raw)
                known = merged.get(summary.shuffle_id)
                if known is not None:
                    summary = ShuffleSummary(
                        summary.shuffle_id, summary.num_partitions,
                        max(known.committed_maps, summary.committed_maps),
                        known.bytes + summary.bytes)
                merged[summary.shuffle_id] = summary
        return [merged[name] for name in sorted(merged)]


class DaemonShuffle(Shuffle):
    service: DaemonShuffleService

    def route(self, template: str, **fields) -> str:
        return template.format(shuffle_id=self.shuffle_id, **fields)

    def coordinator(self) -> DaemonClient:
        return self.service.client(self.service.owner(self.shuffle_id))

    def partition_owner(self, partition: int) -> str | None:
        return self.service.owner(f"{self.shuffle_id}/{partition}")

    def map_writer(self, map_id: int, attempt: int = 0) -> DaemonMapWriter:
        return DaemonMapWriter(self, map_id, attempt)

    def committed(self) -> list[CommitRecord]:
        records = self.coordinator().call("GET", self.route(wire.SHUFFLE_COMMITS))
        return [CommitRecord.from_json(json.dumps(raw), f"daemon commit of map {raw.get('map_id')}",
                                       self.num_partitions) for raw in records]

    def _blocks(self, partition: int, records: list[CommitRecord]) -> Iterator[Block]:
        checker = BlockChecker(self.shuffle_id, partition, records, interleaved=True)
        client = self.service.client(self.partition_owner(partition))
        splitter = FrameSplitter(f"shuffle {self.shuffle_id!r} partition {partition} "
                                 f"at {client.address}")
        route = self.route(wire.SHUFFLE_PARTITION, partition=partition)
        for chunk in client.iter_download(route):
            for frame in splitter.feed(chunk):
                block = checker.accept(frame, splitter.where)
                if block is not None:
                    yield block
        splitter.finish()
        checker.finish()

    def delete(self) -> None:
        for member in self.service.everyone():
            try:
                self.service.client(member).call("DELETE", self.route(wire.SHUFFLE))
            except FileNotFoundError:
                pass


class DaemonMapWriter(MapWriter):
    shuffle: DaemonShuffle

    def __init__(self, shuffle: DaemonShuffle, map_id: int, attempt: int):
        super().__init__(shuffle, map_id, attempt)
        options = shuffle.service.options
        self._held = MapBuffers(map_id, attempt, options.codec, options.block_size)
        self._push_at = min(options.buffer_size, _PUSH_BYTES)

    def _write(self, partition: int, data) -> None:
        if self._held.add(partition, data) >= self._push_at:
            self._push_all()

    def _push_all(self) -> None:
        """Every held block to the daemon owning its partition, in order."""
        by_owner: dict[str | None, list] = {}
        for partition, parts in self._held.take_all():
            by_owner.setdefault(self.shuffle.partition_owner(partition), []).extend(parts)
        route = self.shuffle.route(wire.SHUFFLE_PUSH)
        for owner, parts in by_owner.items():
            self.shuffle.service.client(owner).call("POST", route, data=b"".join(parts))

    def _commit(self) -> CommitRecord:
        self._push_all()
        record = CommitRecord(self.shuffle.shuffle_id, self.map_id, self.attempt,
                              self._held.blocks(self.shuffle.num_partitions))
        answer = self.shuffle.coordinator().call("POST", self.shuffle.route(wire.SHUFFLE_COMMIT),
                                                 data=record.to_json())
        return CommitRecord.from_json(json.dumps(answer["record"]), "the daemon's commit answer",
                                      self.shuffle.num_partitions)

    def _abort(self) -> None:
        """Blocks already pushed stay in the partition files; readers skip this attempt's."""
        self._held.clear()
