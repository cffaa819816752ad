"""Codec throughput as ecfs's writer and reader pay it: RS(4,2) encode and decode with two
data fragments lost, on fresh stripes (never one hot stripe), with the copy out of the
caller's buffer and the per-cell xxh3 checksums; on one core and on every core at once.
"""

from __future__ import annotations

import os
import time
from multiprocessing import get_context

from tierfs.ec.codec import ECPolicy, StripeCodec
from tierfs.ec.manifest import cell_checksum
from tierfs_bench.report import Measurement, Report

STRIPES = 64  # per timed pass: 256 MiB with 1 MiB cells, long enough for a stable rate
POOL_BYTES = 64 * 2**20  # distinct input, larger than a CPU cache, cycled through
ENCODE, DECODE = "encode RS(4,2)", "decode, 2 data lost"


class CodecWork:
    """Distinct stripes and their fragments; ``encode``/``decode`` do one stripe's full work."""

    def __init__(self, cell_size: int):
        self.codec = StripeCodec(ECPolicy(4, 2, cell_size))
        size = self.codec.policy.stripe_size
        self.stripe_size = size
        self.count = max(1, POOL_BYTES // size)
        self.pool = memoryview(os.urandom(self.count * size))
        survivors = []
        for index in range(self.count):
            fragments = self.codec.encode(self.pool[index * size:(index + 1) * size])
            kept = {i: f for i, f in enumerate(fragments) if i not in (0, 1)}
            survivors.append((kept, {i: cell_checksum(f) for i, f in kept.items()}))
        self.survivors = survivors

    def encode(self, index: int) -> None:
        offset = (index % self.count) * self.stripe_size
        stripe = bytes(self.pool[offset:offset + self.stripe_size])  # the writer's copy
        for fragment in self.codec.encode(stripe):
            cell_checksum(fragment)

    def decode(self, index: int) -> None:
        fragments, checksums = self.survivors[index % self.count]
        for i, fragment in fragments.items():  # the reader verifies each cell it decodes
            if cell_checksum(fragment) != checksums[i]:
                raise AssertionError(f"fragment {i} changed")
        self.codec.decode(fragments)

    def timed_pass(self, kind: str, stripes: int = STRIPES) -> tuple[float, float]:
        """(start, end) on the machine-wide monotonic clock, so processes' passes line up."""
        work = self.encode if kind == ENCODE else self.decode
        start = time.perf_counter()
        for index in range(stripes):
            work(index)
        return start, time.perf_counter()


def _core(cell_size: int, runs: int, stripes: int, barrier, results) -> None:
    """One process of the all-cores rows: every pass starts when every process is ready."""
    work = CodecWork(cell_size)
    for kind in (ENCODE, DECODE):
        for run in range(runs):
            barrier.wait()
            results.put((kind, run, work.timed_pass(kind, stripes)))


def measure_codec(report: Report, cell_size: int, runs: int = 3,
                  stripes: int = STRIPES) -> None:
    """Rows 'codec, one core' and 'codec, N cores' (aggregate) for encode and decode."""
    work = CodecWork(cell_size)
    nbytes = stripes * work.stripe_size
    for kind in (ENCODE, DECODE):
        row = report.add(Measurement(kind, "codec, one core", nbytes,
                                     extra={"backend": work.codec.backend}))
        for _ in range(runs):
            start, end = work.timed_pass(kind, stripes)
            row.seconds.append(end - start)
    cores = os.cpu_count() or 1
    if cores < 2:
        return
    context = get_context("fork")
    barrier, results = context.Barrier(cores), context.Queue()
    processes = [context.Process(target=_core, args=(cell_size, runs, stripes, barrier, results))
                 for _ in range(cores)]
    for process in processes:
        process.start()
    spans: dict[tuple[str, int], list] = {}
    for _ in range(2 * runs * cores):
        kind, run, span = results.get(timeout=600)
        spans.setdefault((kind, run), []).append(span)
    for process in processes:
        process.join()
    for kind in (ENCODE, DECODE):
        row = report.add(Measurement(kind, f"codec, {cores} cores", cores * nbytes,
                                     extra={"backend": work.codec.backend}))
        row.seconds += [max(end for _, end in spans[kind, run]) -
                        min(start for start, _ in spans[kind, run]) for run in range(runs)]
