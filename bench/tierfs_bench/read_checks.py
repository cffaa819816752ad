"""The acceptance criteria of issues 2 (warm) and 15 (cold), evaluated on a read report:
values, not assertions.

A check compares the throughput of one variant with another's on the same workload.
Checks outside the issues' scope are kept as information (``required=False``).
"""

from __future__ import annotations

from dataclasses import dataclass

from tierfs_bench.disk_floor import DISK_FLOOR
from tierfs_bench.report import Report

WARM = ("tierfs warm mem", "tierfs warm ssd")
COLD = ("tierfs cold", "tierfs cold, in tiers")
LIMITS = ("local", "local mmap")  # read(2) and a copy from a mapping


@dataclass(frozen=True)
class Check:
    workload: str
    variant: str
    baseline: str
    minimum: float  # throughput ratio variant / baseline must be at least this
    required: bool
    ratio: float | None  # None: the variant or its baseline was not measured

    @property
    def passed(self) -> bool:
        return self.ratio is not None and self.ratio >= self.minimum * (1 - 1e-9)

    def line(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        if not self.required:
            verdict = "info" if self.passed else "info (below)"
        ratio = "missing" if self.ratio is None else f"{self.ratio:.3f}"
        return (f"{verdict:<12} {self.workload:<12} {self.variant:<22} / {self.baseline:<16} "
                f"= {ratio:>7}x  (want >= {self.minimum:.3f}x)")

    def as_dict(self) -> dict:
        return {
            "workload": self.workload, "variant": self.variant, "baseline": self.baseline,
            "minimum": self.minimum, "required": self.required, "ratio": self.ratio,
            "passed": self.passed,
        }


def _criteria(workload: str, remote_model: bool) -> list[tuple[str, str, float, bool]]:
    """(variant, baseline, minimum throughput ratio, required) for one workload, with the
    store on loopback or behind the remote-store model."""
    large = workload in ("sequential", "random")
    rows = [
        (variant, limit, minimum, large) for limit in LIMITS
        for variant, minimum in (("tierfs warm mem", 1.0), ("tierfs warm ssd", 0.7))
    ]
    rows += [(variant, "s3fs", 5.0, True) for variant in WARM]
    rows += _cold_criteria(workload, remote_model)
    rows += [
        (variant, f"{cache} warm", 1.0, large) for variant in WARM
        for cache in ("blockcache", "filecache")
    ]
    return rows


def _cold_criteria(workload: str, remote_model: bool) -> list[tuple[str, str, float, bool]]:
    """Issue 2's "a cold read costs at most 1.1x the time of direct s3fs", until the bytes
    are returned and until they are in the tiers (a cold random 64 KiB read fetches a whole
    block: only reported); issue 15's higher bars replace it on the sequential read. The
    disk's floor under the tiers is information."""
    cold, in_tiers = COLD
    if workload != "sequential":
        return [(variant, "s3fs", 1 / 1.1, workload != "random") for variant in COLD]
    floor = (in_tiers, DISK_FLOOR, 1.0, False)
    if remote_model:
        return [(cold, "s3fs", 3.0, True), (in_tiers, "s3fs", 1 / 1.1, True), floor]
    return [(cold, "s3fs", 1.5, True), (cold, "obstore", 0.8, True),
            (in_tiers, "s3fs", 1.2, True), floor]


def evaluate_checks(report: Report) -> list[Check]:
    """Every criterion of a variant this run measured (or was asked to: ``meta['variants']``);
    one whose variant or baseline has no measurement fails, it does not vanish."""
    expected = set(report.meta.get("variants", {})) | {m.variant for m in report.measurements}
    remote_model = "remote_model" in report.meta
    checks = []
    for workload in dict.fromkeys(m.workload for m in report.measurements):
        for variant, baseline, minimum, required in _criteria(workload, remote_model):
            if variant not in expected:
                continue
            measured = report.find(variant, workload)
            ratio = None if measured is None else report.ratio(measured, baseline)
            checks.append(Check(workload, variant, baseline, minimum, required, ratio))
    return checks
