"""Dask as the engine of a tierfs shuffle: rows move through the service, records through Dask.

Each input partition becomes one map task that splits its rows by output partition and
writes them as Arrow tables; its commit record (a few integers per partition) is all
that goes back to the scheduler. One barrier task gathers the records, and each output
partition is one task reading exactly the winning attempt of every map. A map task that
Dask reruns (its worker died) writes a new attempt; the first commit of each map wins.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass, field
from functools import lru_cache

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa

from tierfs.shuffle import Shuffle, open_service
from tierfs.shuffle.records import CommitRecord


@dataclass(frozen=True)
class _Plan:
    """Everything a task needs to reach the shuffle; small, and pickled into every task."""

    service: str
    options: str  # storage options as canonical JSON: hashable, even with nested dicts
    shuffle_id: str
    npartitions: int
    on: list = field(default_factory=list)
    boundaries: tuple | None = None  # range partitioning (sort) instead of hashing

    def shuffle(self, create: bool) -> Shuffle:
        service = _service(self.service, self.options)
        if create:
            return service.create(self.shuffle_id, self.npartitions)
        return service.get(self.shuffle_id)

    def targets(self, frame: pd.DataFrame) -> np.ndarray:
        if self.boundaries is not None:
            return np.searchsorted(np.asarray(self.boundaries), frame[self.on[0]].to_numpy(),
                                   side="right")
        hashes = pd.util.hash_pandas_object(frame[self.on], index=False).to_numpy()
        return (hashes % np.uint64(self.npartitions)).astype(np.int64)


@lru_cache(maxsize=16)
def _service(url: str, options: str):
    return open_service(url, **json.loads(options))


def shuffle(ddf: dd.DataFrame, on, service: str, npartitions: int | None = None, *,
            shuffle_id: str | None = None, storage_options: dict | None = None
            ) -> dd.DataFrame:
    """The rows of ``ddf`` repartitioned by the hash of column(s) ``on``, through ``service``:
    each key in exactly one of ``npartitions`` output partitions (the input's count by
    default). The shuffle's files stay in the service until it is deleted by its id."""
    plan = _plan(ddf, on, service, npartitions, shuffle_id, storage_options)
    return _through_service(ddf, plan, sort_by=None)


def sort_values(ddf: dd.DataFrame, by: str, service: str, npartitions: int | None = None, *,
                shuffle_id: str | None = None, storage_options: dict | None = None,
                sample_rows: int = 20_000) -> dd.DataFrame:
    """``ddf`` sorted by column ``by``: ranges of ``by`` (from a sample) go to partitions in
    order, each sorted by ``by``."""
    plan = _plan(ddf, by, service, npartitions, shuffle_id, storage_options)
    per_partition = max(1, sample_rows // max(1, ddf.npartitions))
    sample = ddf[by].map_partitions(lambda s: s.sample(min(len(s), per_partition),
                                                       random_state=0)).compute()
    quantiles = np.linspace(0, 1, plan.npartitions + 1)[1:-1]
    boundaries = tuple(np.quantile(np.sort(sample.to_numpy()), quantiles, method="nearest")
                       ) if len(sample) else ()
    plan = _Plan(plan.service, plan.options, plan.shuffle_id, len(boundaries) + 1, plan.on,
                 boundaries)
    return _through_service(ddf, plan, sort_by=by)


def _plan(ddf, on, service, npartitions, shuffle_id, storage_options) -> _Plan:
    columns = [on] if isinstance(on, str) else list(on)
    missing = [c for c in columns if c not in ddf.columns]
    if not columns or missing:
        raise ValueError(f"on: column(s) {missing or on!r} not in the DataFrame")
    npartitions = ddf.npartitions if npartitions is None else npartitions
    if isinstance(npartitions, bool) or not isinstance(npartitions, int) or npartitions < 1:
        raise ValueError(f"npartitions: expected a positive integer, got {npartitions!r}")
    options = json.dumps(storage_options or {}, sort_keys=True)
    _service(service, options)  # a bad URL or option fails here, not in a worker
    return _Plan(service, options, shuffle_id or f"dask-{uuid.uuid4().hex}", npartitions,
                 columns)


def _through_service(ddf: dd.DataFrame, plan: _Plan, sort_by: str | None) -> dd.DataFrame:
    meta = ddf._meta
    schema = pa.Schema.from_pandas(meta, preserve_index=True)
    maps = [dask.delayed(_write_map, pure=False)(
                part, plan, map_id, schema, dask_key_name=f"tierfs-map-{plan.shuffle_id}-{map_id}")
            for map_id, part in enumerate(ddf.to_delayed())]
    records = dask.delayed(list, pure=False)(maps,
                                             dask_key_name=f"tierfs-barrier-{plan.shuffle_id}")
    outputs = [dask.delayed(_read_partition, pure=False)(
                   records, plan, partition, schema, meta, sort_by,
                   dask_key_name=f"tierfs-reduce-{plan.shuffle_id}-{partition}")
               for partition in range(plan.npartitions)]
    return dd.from_delayed(outputs, meta=meta, verify_meta=False)


def _write_map(frame: pd.DataFrame, plan: _Plan, map_id: int, schema: pa.Schema
               ) -> CommitRecord:
    shuffle = plan.shuffle(create=True)
    targets = plan.targets(frame)
    order = np.argsort(targets, kind="stable")
    counts = np.bincount(targets, minlength=plan.npartitions)
    table = pa.Table.from_pandas(frame.iloc[order], schema=schema, preserve_index=True)
    with shuffle.map_writer(map_id, secrets.randbits(62)) as writer:
        start = 0
        for partition, count in enumerate(counts.tolist()):
            if count:
                writer.write(partition, table.slice(start, count))
            start += count
        return writer.commit()


def _read_partition(records: list[CommitRecord], plan: _Plan, partition: int,
                    schema: pa.Schema, meta: pd.DataFrame, sort_by: str | None) -> pd.DataFrame:
    reader = plan.shuffle(create=False).reader(partition, map_ids=range(len(records)),
                                               commits=records)
    frame = reader.read_table(schema).to_pandas()
    if not len(frame):
        return meta
    changed = {c: t for c, t in meta.dtypes.items() if frame[c].dtype != t}
    if changed:  # Arrow does not keep every pandas dtype (e.g. str with NaN as missing)
        frame = frame.astype(changed)
    return frame.sort_values(sort_by) if sort_by else frame
