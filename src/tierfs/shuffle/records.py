"""Commit records: what one committed map attempt wrote, and which attempt counts for each map.

The rule is *first commit wins*: a backend records a map's commit with an exclusive
create, and a later attempt's ``commit()`` returns the winner's record instead of its own.
Engines hand these records to reducers, so every reducer reads the same attempts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from tierfs.shuffle.errors import CorruptShuffleBlockError, MissingMapOutputError

_OBJECT = re.compile(r"^maps/\d{1,19}\.\d{1,19}\.[0-9a-f]{8,32}\.data$")
MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class CommitRecord:
    """Map ``map_id`` attempt ``attempt``: blocks per partition and, where its output is
    one sorted object, where each partition's range starts (``offsets[p]:offsets[p + 1]``)."""

    shuffle_id: str
    map_id: int
    attempt: int
    blocks: tuple[int, ...]
    offsets: tuple[int, ...] | None = None
    object: str | None = None

    def byte_range(self, partition: int) -> tuple[int, int]:
        return self.offsets[partition], self.offsets[partition + 1]

    def to_json(self) -> bytes:
        fields = {"shuffle_id": self.shuffle_id, "map_id": self.map_id,
                  "attempt": self.attempt, "blocks": list(self.blocks)}
        if self.offsets is not None:
            fields |= {"offsets": list(self.offsets), "object": self.object}
        return json.dumps(fields, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes | str, where: str, num_partitions: int) -> CommitRecord:
        """Parse and validate a stored record; anything malformed names ``where``."""
        try:
            raw = json.loads(data)
            record = cls(raw["shuffle_id"], raw["map_id"], raw["attempt"],
                         tuple(raw["blocks"]),
                         None if raw.get("offsets") is None else tuple(raw["offsets"]),
                         raw.get("object"))
        except (ValueError, KeyError, TypeError, RecursionError) as error:
            raise CorruptShuffleBlockError(f"unreadable commit record {where}: {error}") from None
        record.validate(num_partitions, where)
        return record

    def validate(self, num_partitions: int, where: str) -> None:
        def bad(why: str) -> CorruptShuffleBlockError:
            return CorruptShuffleBlockError(f"invalid commit record {where}: {why}")

        if not all(_is_id(v) for v in (self.map_id, self.attempt, *self.blocks)):
            raise bad("ids and block counts must be integers in 0..2**63-1")
        if len(self.blocks) != num_partitions:
            raise bad(f"{len(self.blocks)} partitions, the shuffle has {num_partitions}")
        if self.offsets is not None:
            offsets = self.offsets
            if (len(offsets) != num_partitions + 1 or not all(map(_is_id, offsets))
                    or any(a > b for a, b in zip(offsets, offsets[1:], strict=False))):
                raise bad("offsets must be ascending, one per partition plus the end")
            if not isinstance(self.object, str) or not _OBJECT.match(self.object):
                raise bad(f"object name {self.object!r} is not a map output name")


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ID


def check_id(value: object, what: str) -> int:
    """``value`` if it is a valid map id or attempt number, else a ValueError naming ``what``."""
    if not _is_id(value):
        raise ValueError(f"{what}: expected an integer in 0..2**63-1, got {value!r}")
    return value


def winners(shuffle_id: str, partition: int, committed: Iterable[CommitRecord],
            map_ids: Iterable[int] | None) -> list[CommitRecord]:
    """The record of each map to read, in map order; every id in ``map_ids`` must be there."""
    by_map: dict[int, CommitRecord] = {}
    for record in committed:
        if record.shuffle_id != shuffle_id:
            raise ValueError(f"commit record of shuffle {record.shuffle_id!r} given to a "
                             f"reader of shuffle {shuffle_id!r}")
        known = by_map.setdefault(record.map_id, record)
        if known.attempt != record.attempt:
            raise ValueError(f"two different committed attempts of map {record.map_id} "
                             f"given ({known.attempt} and {record.attempt})")
    if map_ids is None:
        return [by_map[m] for m in sorted(by_map)]
    wanted = sorted({check_id(m, "map_ids") for m in map_ids})
    missing = [m for m in wanted if m not in by_map]
    if missing:
        raise MissingMapOutputError(shuffle_id, partition, missing)
    return [by_map[m] for m in wanted]
