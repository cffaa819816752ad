"""TeraSort records for ``tierfs-bench shuffle``, made inside the workers, and their verification.

A record is 100 random bytes: a 10-byte key, then 90 bytes of value, held as numbers that
pandas sorts and moves fast: the key's first 8 bytes (big-endian) as the ``uint64`` sort column
``key``, its last 2 as ``key_tail``, the value as eleven ``uint64`` and one ``uint16``.
"""

from __future__ import annotations

from dataclasses import dataclass

import dask.dataframe as dd
import numpy as np
import pandas as pd

RECORD_SIZE = 100
SORT_COLUMN = "key"
COLUMNS = ["key", "key_tail", *(f"v{i}" for i in range(11)), "v11"]


@dataclass(frozen=True)
class RecordRange:
    """Records ``start`` to ``stop`` of the data set drawn from ``seed``: one input partition.

    ``job`` does not change the records: it gives each timed sort an input of its own name,
    so Dask computes its sort boundaries afresh instead of reusing those of an earlier job.
    """

    seed: int
    start: int
    stop: int
    job: str = ""


def make_records(piece: RecordRange) -> pd.DataFrame:
    """The records of ``piece``: the same bytes for the same seed and range, on any worker."""
    count = piece.stop - piece.start
    words = np.random.default_rng([piece.seed, piece.start]).bit_generator.random_raw(
        count * 13).reshape(13, count)
    columns = {"key": words[0], "key_tail": words[1].astype(np.uint16)}
    columns |= {f"v{i}": words[2 + i] for i in range(11)}
    columns["v11"] = (words[1] >> 16).astype(np.uint16)
    return pd.DataFrame(columns)


def records(nbytes: int, partition_bytes: int, seed: int, job: str = "") -> dd.DataFrame:
    """``nbytes`` of records (rounded down to whole records) in partitions of about
    ``partition_bytes``; nothing is generated until a worker computes a partition."""
    total = nbytes // RECORD_SIZE
    if total < 1:
        raise ValueError(f"size: {nbytes} bytes hold no {RECORD_SIZE}-byte record")
    per_partition = max(1, partition_bytes // RECORD_SIZE)
    pieces = [RecordRange(seed, start, min(start + per_partition, total), job)
              for start in range(0, total, per_partition)]
    return dd.from_map(make_records, pieces, meta=make_records(RecordRange(seed, 0, 0)),
                       enforce_metadata=False)


@dataclass(frozen=True)
class Summary:
    """What one partition holds, as the verification needs it: small enough for the scheduler.

    ``checksum`` is the sum (mod 2**64) of a 64-bit hash of each record's fields in order,
    so it does not depend on where records are or in which order.
    """

    records: int
    checksum: int
    sorted: bool
    first: tuple[int, int] | None  # (key, key_tail) of the first and last record
    last: tuple[int, int] | None


def summarize(frame: pd.DataFrame) -> Summary:
    if not len(frame):
        return Summary(0, 0, True, None, None)
    hashes = pd.util.hash_pandas_object(frame[COLUMNS], index=False).to_numpy()
    keys = frame[SORT_COLUMN].to_numpy()
    tails = frame["key_tail"].to_numpy()
    return Summary(len(frame), int(hashes.sum(dtype=np.uint64)),
                   bool(np.all(keys[1:] >= keys[:-1])),
                   (int(keys[0]), int(tails[0])), (int(keys[-1]), int(tails[-1])))


def combine(summaries: list[Summary]) -> tuple[int, int]:
    """Record count and checksum of all partitions together."""
    return (sum(s.records for s in summaries),
            sum(s.checksum for s in summaries) % 2**64)


def problems(output: list[Summary], expected: tuple[int, int]) -> list[str]:
    """Why ``output`` (summaries in partition order) is not the sorted input; empty if it is."""
    found = []
    count, checksum = combine(output)
    if count != expected[0]:
        found.append(f"{count} records, the input has {expected[0]}")
    if checksum != expected[1]:
        found.append(f"checksum {checksum:#018x}, the input's is {expected[1]:#018x}")
    unsorted = [i for i, s in enumerate(output) if not s.sorted]
    if unsorted:
        found.append(f"partitions {unsorted[:10]} are not sorted")
    filled = [(i, s) for i, s in enumerate(output) if s.records]
    overlaps = [(a, b) for (a, left), (b, right) in zip(filled, filled[1:], strict=False)
                if left.last[0] > right.first[0]]
    if overlaps:
        found.append(f"partition boundaries out of order at {overlaps[:5]}")
    return found
