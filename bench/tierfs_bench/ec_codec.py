"""Codec throughput on one core: RS(4,2) encode, and decode with two data fragments lost."""

from __future__ import annotations

import os
import time

from tierfs.ec.codec import ECPolicy, StripeCodec
from tierfs_bench.report import Measurement, Report

STRIPES = 64  # 256 MiB of stripes with 1 MiB cells: long enough for a stable rate


def measure_codec(report: Report, cell_size: int, runs: int = 3) -> None:
    codec = StripeCodec(ECPolicy(4, 2, cell_size))
    stripe = os.urandom(codec.policy.stripe_size)
    fragments = dict(enumerate(codec.encode(stripe)))
    survivors = {i: f for i, f in fragments.items() if i not in (0, 1)}
    nbytes = STRIPES * len(stripe)
    for name, call in (("encode RS(4,2)", lambda: codec.encode(stripe)),
                       ("decode, 2 data lost", lambda: codec.decode(survivors))):
        measurement = report.add(Measurement(name, "codec, one core", nbytes,
                                             extra={"backend": codec.backend}))
        for _ in range(runs):
            start = time.perf_counter()
            for _ in range(STRIPES):
                call()
            measurement.seconds.append(time.perf_counter() - start)
