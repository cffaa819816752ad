"""Timing of the read benchmark: cold and warm series per family, with cache counters.

``Session`` runs every workload of one family, records medians through ``Report`` and, with
``--profile``, a pyinstrument profile of the tierfs runs. Choosing variants, printing and
checking are ``read.py``'s job.
"""

from __future__ import annotations

import gc
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tierfs.cache.tuning import TUNING
from tierfs_bench.disk_floor import DISK_FLOOR, time_disk_writes
from tierfs_bench.read_data import DataSet
from tierfs_bench.read_variants import Family, Reader
from tierfs_bench.read_workloads import Workload, verify
from tierfs_bench.report import Measurement, Report

MAX_RUNS = 25
_STATS_COUNTERS = ("hits", "misses", "evictions", "promotions", "under_store_bytes")


@dataclass
class WarmCache:
    """A cache after its first pass, waiting for its interleaved warm runs."""

    family: Family
    reader: Reader
    cache_dir: Path
    measurement: Measurement


class Profiles:
    """One pyinstrument profile per (variant, workload) of the variants it is asked for.

    Only the calling thread is sampled: time the reader spends waiting for prefetch or
    fetch threads shows up as waiting, not as the fetch itself.
    """

    def __init__(self, directory: Path, prefix: str = "tierfs"):
        self.directory = directory
        self.prefix = prefix
        self._profilers: dict[tuple[str, str], object] = {}

    @contextmanager
    def sample(self, variant: str, workload: str):
        if not variant.startswith(self.prefix):
            yield
            return
        from pyinstrument import Profiler

        profiler = self._profilers.setdefault((variant, workload), Profiler(interval=0.0005))
        profiler.start()
        try:
            yield
        finally:
            profiler.stop()

    def write(self) -> list[Path]:
        self.directory.mkdir(parents=True, exist_ok=True)
        written = []
        for (variant, workload), profiler in self._profilers.items():
            stem = f"{variant}-{workload}".replace(" ", "_")
            text = self.directory / f"{stem}.txt"
            text.write_text(profiler.output_text(unicode=True, color=False))
            (self.directory / f"{stem}.html").write_text(profiler.output_html())
            written.append(text)
        return written


@dataclass
class Session:
    dataset: DataSet
    report: Report
    cache_root: Path
    runs: int = 3
    min_time: float = 0.5
    profiles: Profiles | None = None

    def measure_plain(self, family: Family, chosen: list[Workload]) -> None:
        """A family without a cache, every workload in turn (measured again: runs are pooled)."""
        reader = family.make(None)
        reader.prime()
        for workload in chosen:
            measurement = self.report.series(family.plain, workload.name, workload.nbytes)
            if family.warm_up:
                self._timed(reader, workload, None)
            first = len(measurement.seconds)
            self.interleave([(reader, measurement)], workload)
            measurement.extra.setdefault("series_medians", []).append(
                statistics.median(measurement.seconds[first:])
            )
            log_measurement(measurement)
        verify(reader, self.dataset)
        reader.close()

    def prepare_warm(self, family: Family, workload: Workload,
                     beside: list[tuple[Reader, Measurement]] = ()) -> WarmCache:
        """Cold runs, each over a fresh cache; returns the last cache (or its reopening), warm.

        Each cold run follows one run of every ``beside`` baseline (direct s3fs), pooled
        into the baseline's measurement: a cold read and the direct read it is compared
        with see the same server and the same load. The warm runs themselves happen in
        ``interleave``, alternating with the other warm variants and the local limit.
        """
        cold = None
        if family.cold:
            cold = self.report.add(Measurement(family.cold, workload.name, workload.nbytes))
        reader = cache_dir = None
        fill_seconds = 0.0
        for run_index in range(self.runs if cold else 1):
            if reader is not None:
                reader.close()
                shutil.rmtree(cache_dir, ignore_errors=True)
            cache_dir = self._fresh_dir(family.name)
            reader = family.make(cache_dir)
            reader.prime()
            settle()
            if cold:
                for baseline, measurement in beside:
                    measurement.seconds.append(
                        self._timed(baseline, workload, measurement.variant))
            before = reader.cache_stats()
            fill_seconds, in_tiers_seconds, after = until_in_tiers(
                reader, lambda reader=reader: self._timed(reader, workload, family.cold))
            if cold:
                cold.seconds.append(fill_seconds)
                _record_stats(cold, run_index, before, after)
                if in_tiers_seconds is not None:
                    self.report.series(f"{family.cold}, in tiers", workload.name,
                                       workload.nbytes).seconds.append(in_tiers_seconds)
                    fetched = after["under_store_bytes"] - before["under_store_bytes"]
                    self.report.series(DISK_FLOOR, workload.name, workload.nbytes).seconds.append(
                        time_disk_writes(cache_dir, fetched, TUNING.persist_workers))
        if cold:
            log_measurement(cold)
        if family.reopen:
            reader.close()
            reader = family.reopen(reader, cache_dir)
            reader.prime()
        reader.quiesce()  # stores of the first pass still in flight are not warm runs' work
        warm = self.report.add(Measurement(family.warm, workload.name, workload.nbytes))
        warm.extra["fill_seconds"] = fill_seconds
        return WarmCache(family, reader, cache_dir, warm)

    def finish_warm(self, cache: WarmCache) -> None:
        warm, family = cache.measurement, cache.family
        if warm.seconds:
            fetched = sum(run.get("under_store_bytes", 0) for run in warm.extra.get("stats", []))
            if fetched:
                self.report.notes.append(
                    f"WARNING {family.warm} / {warm.workload}: warm runs read {fetched:,} bytes "
                    "from the under store (expected 0)"
                )
            if family.reopen and warm.seconds[0] > 2 * warm.median_seconds:
                self.report.notes.append(
                    f"note: {family.warm} / {warm.workload}: the first run after reopening "
                    f"took {warm.seconds[0]:.3f} s, the median {warm.median_seconds:.3f} s"
                )
            log_measurement(warm)
        cache.reader.close()
        shutil.rmtree(cache.cache_dir, ignore_errors=True)

    def interleave(self, entries: list[tuple[Reader, Measurement]],
                   workload: Workload) -> list[tuple[Measurement, Exception]]:
        """Rounds of one run per entry until each has ``runs`` runs adding up to ``min_time``.

        Round-robin, so a change of load on a shared machine hits every variant alike and
        the ratios between them hold. Returns the entries that raised (they leave the rounds).
        """
        settle()
        first = [len(m.seconds) for _, m in entries]
        active = list(range(len(entries)))
        failed = []
        round_index = 0
        while active:
            for i in list(active):
                reader, measurement = entries[i]
                try:
                    before = reader.cache_stats()
                    measurement.seconds.append(
                        self._timed(reader, workload, measurement.variant)
                    )
                    _record_stats(measurement, round_index, before, reader.cache_stats())
                except Exception as error:  # noqa: BLE001 - the caller reports it
                    failed.append((measurement, error))
                    active.remove(i)
                    continue
                runs = round_index + 1
                total = sum(measurement.seconds[first[i]:])
                if runs >= self.runs and (total >= self.min_time or runs >= MAX_RUNS):
                    active.remove(i)
            round_index += 1
        return failed

    def verify_cached(self, family: Family) -> None:
        """Bytes served on a miss and on a hit (and after a reopen) equal the local bytes."""
        cache_dir = self._fresh_dir(family.name + "-verify")
        reader = family.make(cache_dir)
        verify(reader, self.dataset)
        if family.reopen:
            reader.close()
            reader = family.reopen(reader, cache_dir)
        verify(reader, self.dataset)
        reader.close()
        shutil.rmtree(cache_dir, ignore_errors=True)

    def time_once(self, reader: Reader, workload: Workload) -> float:
        """One untimed-for-the-report pass (a warm-up)."""
        return self._timed(reader, workload, None)

    def _timed(self, reader: Reader, workload: Workload, variant: str | None) -> float:
        # collect the previous run's garbage now rather than inside this run; freezing what
        # survives keeps each collection cheap (a full one is not: docs/performance.md)
        gc.collect()
        gc.freeze()
        profiling = self.profiles is not None and variant is not None
        with self.profiles.sample(variant, workload.name) if profiling else _nothing():
            start = time.perf_counter()
            delivered = workload.run(reader, self.dataset)
            seconds = time.perf_counter() - start
        if delivered != workload.nbytes:
            raise AssertionError(
                f"{reader.name} / {workload.name}: delivered {delivered} bytes, "
                f"expected {workload.nbytes}"
            )
        return seconds

    def _fresh_dir(self, name: str) -> Path:
        self.cache_root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.cache_root))


def until_in_tiers(reader: Reader, timed_run: Callable[[], float]
                   ) -> tuple[float, float | None, dict | None]:
    """Seconds of ``timed_run`` (bytes returned), the same plus the ``cache_stats()`` call
    that drains deferred tier writes (bytes in the tiers; None without stats), the stats."""
    returned = timed_run()
    start = time.perf_counter()
    after = reader.cache_stats()
    if after is None:
        return returned, None, None
    return returned, returned + time.perf_counter() - start, after


@contextmanager
def _nothing():
    yield


def settle() -> None:
    """Write back dirty pages (data set, cache fills) so no variant pays another's write-back."""
    os.sync()


def _record_stats(measurement: Measurement, run_index: int, before: dict | None,
                  after: dict | None) -> None:
    """Per-run deltas of the cache counters, and tier occupancy after the run (tierfs only)."""
    if before is None or after is None:
        return
    delta = {name: after.get(name, 0) - before.get(name, 0) for name in _STATS_COUNTERS}
    delta["run"] = run_index
    delta["tiers"] = [
        {key: tier.get(key) for key in ("medium", "used", "blocks", "capacity")}
        for tier in after.get("tiers", [])
    ]
    measurement.extra.setdefault("stats", []).append(delta)


def log_measurement(m: Measurement) -> None:
    log(f"  {m.variant:<18} {m.workload:<12} {m.mb_per_s:>10,.1f} MB/s  ({len(m.seconds)} runs: "
        f"first {m.seconds[0]:.4f}, min {min(m.seconds):.4f}, max {max(m.seconds):.4f} s)")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
