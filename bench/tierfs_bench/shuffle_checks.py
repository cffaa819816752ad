"""The targets of issue 13 evaluated on a shuffle report: values to print, not assertions.

The best tierfs mode (the fastest) must be at least as fast as Dask's p2p, faster than
tasks, and peak no higher in worker RSS than p2p; the object-store mode (s3) must take
at most twice the time of the local mode.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from tierfs_bench.report import Measurement, Report
from tierfs_bench.shuffle_modes import TIERFS_MODES


@dataclass(frozen=True)
class Target:
    name: str
    value: float | None  # the measured ratio
    limit: float
    at_most: bool  # value must be <= limit (else >=)
    strict: bool = False  # < or > instead of <= or >=

    @property
    def passed(self) -> bool | None:
        if self.value is None:
            return None
        if self.at_most:
            return self.value < self.limit if self.strict else self.value <= self.limit
        return self.value > self.limit if self.strict else self.value >= self.limit

    def line(self) -> str:
        verdict = {True: "PASS", False: "FAIL", None: "n/a "}[self.passed]
        sign = ("<" if self.at_most else ">") + ("" if self.strict else "=")
        value = "-" if self.value is None else f"{self.value:.3f}"
        return f"{verdict}  {self.name:<52} = {value:>6}  (want {sign} {self.limit:g})"

    def as_dict(self) -> dict:
        return asdict(self) | {"passed": self.passed}


def peak_rss(measurement: Measurement) -> float:
    """Median over runs of the highest worker peak RSS of a run, in bytes."""
    peaks = sorted(max(run) for run in measurement.extra["peak_rss"])
    return peaks[len(peaks) // 2]


def evaluate_targets(report: Report) -> list[Target]:
    found = {m.variant: m for m in report.measurements}
    tierfs = [found[name] for name in TIERFS_MODES if name in found]
    best = max(tierfs, key=lambda m: m.mb_per_s) if tierfs else None
    label = f"best tierfs mode ({best.variant})" if best else "best tierfs mode"

    def speed(baseline: str) -> float | None:
        if best is None or baseline not in found:
            return None
        return report.ratio(best, baseline)

    rss = None
    if best is not None and "p2p" in found:
        rss = peak_rss(best) / peak_rss(found["p2p"])
    local_vs_s3 = None
    if "local" in found and "s3" in found:
        local_vs_s3 = found["s3"].median_seconds / found["local"].median_seconds
    return [
        Target(f"{label} MB/s / p2p MB/s", speed("p2p"), 1.0, at_most=False),
        Target(f"{label} MB/s / tasks MB/s", speed("tasks"), 1.0, at_most=False, strict=True),
        Target(f"{label} peak worker RSS / p2p's", rss, 1.0, at_most=True),
        Target("s3 seconds / local seconds", local_vs_s3, 2.0, at_most=True),
    ]
