"""What every section of ``tierfs-bench demo`` shares: its sizes, its store, its results.

A section measures one capability on the tour's store and returns a ``Section``: a few
lines of figures with what they mean, one headline for the summary, and bars to plot.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

MiB = 2**20


@dataclass(frozen=True)
class DemoSize:
    read_files: int = 4
    read_file_size: int = 32 * MiB
    ec_file_size: int = 32 * MiB
    writeback_files: int = 24
    writeback_file_size: int = 2 * MiB
    daemon_clients: int = 3
    daemon_file_size: int = 32 * MiB
    shuffle_maps: int = 8
    shuffle_partitions: int = 16
    shuffle_map_bytes: int = 4 * MiB


TINY = DemoSize(read_files=2, read_file_size=2 * MiB, ec_file_size=2 * MiB, writeback_files=4,
                writeback_file_size=256 * 2**10, daemon_clients=2, daemon_file_size=4 * MiB,
                shuffle_maps=2, shuffle_partitions=4, shuffle_map_bytes=256 * 2**10)


@dataclass
class Section:
    key: str  # file stem of its plot
    title: str
    lines: list[str]  # measured figures, then what they mean
    headline: str  # its line of the summary
    bars: dict[str, float]  # label -> value, plotted
    unit: str
    verified: bool  # every byte read back equalled what was written
    figures: dict = field(default_factory=dict)  # the raw numbers, for the JSON


@dataclass
class Tour:
    storage_options: dict
    bucket: str  # a fresh bucket (and prefix for the buckets a section creates)
    workdir: Path
    size: DemoSize
    quiet: bool = False  # no progress bars (tests)

    @contextmanager
    def steps(self, title: str, total: int) -> Iterator[Callable[[str], None]]:
        """A progress bar of ``total`` steps; the caller calls ``done(name)`` after each."""
        bar = tqdm(total=total, desc=f"{title:<28}", file=sys.stderr, disable=self.quiet,
                   bar_format="{desc} {bar:20} {n_fmt}/{total_fmt} [{elapsed}]{postfix}",
                   leave=True)

        def done(name: str) -> None:
            bar.set_postfix_str(name, refresh=False)
            bar.update(1)

        try:
            yield done
        finally:
            bar.close()


def mb_per_s(nbytes: int, seconds: float) -> float:
    return nbytes / 1e6 / seconds


def timed(call: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result
