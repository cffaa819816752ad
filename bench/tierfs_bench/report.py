"""Results of a scenario: medians over repeated runs, a text table, JSON and PNG output.

Every scenario reports through this module, so tables, ratios and files look the same.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Measurement:
    """One variant of a scenario, measured ``len(seconds)`` times over the same bytes."""

    variant: str
    workload: str
    nbytes: int
    seconds: list[float] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.seconds)

    @property
    def mb_per_s(self) -> float:
        return self.nbytes / 1e6 / self.median_seconds


def time_call(func: Callable[[], object]) -> float:
    """Wall-clock seconds of one call."""
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


@dataclass
class Report:
    scenario: str
    measurements: list[Measurement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)  # configuration, legend, checks: written to JSON

    def add(self, measurement: Measurement) -> Measurement:
        self.measurements.append(measurement)
        return measurement

    def series(self, variant: str, workload: str, nbytes: int,
               extra: dict | None = None) -> Measurement:
        """The measurement of ``variant`` on ``workload``, added (with ``extra``) on first
        use: runs measured at different moments pool into one row."""
        return self.find(variant, workload) or self.add(
            Measurement(variant, workload, nbytes, extra=extra or {}))

    def find(self, variant: str, workload: str) -> Measurement | None:
        for measurement in self.measurements:
            if measurement.variant == variant and measurement.workload == workload:
                return measurement
        return None

    def ratio(self, measurement: Measurement, baseline_variant: str) -> float | None:
        """Throughput of ``measurement`` over the baseline's, for the same workload."""
        baseline = self.find(baseline_variant, measurement.workload)
        if baseline is None:
            return None
        return measurement.mb_per_s / baseline.mb_per_s

    def table(self, baselines: list[str], group_by_workload: bool = False,
              columns: list[tuple[str, Callable[[Measurement], str]]] = ()) -> str:
        """One row per measurement with its ratio to each baseline variant.

        ``group_by_workload`` lists the rows of each workload together (in order of first
        appearance) with a blank line between workloads, whatever order they were measured in.
        ``columns`` adds (header, cell of a measurement) columns before the ratios.
        """
        header = ["workload", "variant", "MB/s", "median s", "runs"] + [
            title for title, _ in columns] + [f"x {name}" for name in baselines]
        measurements = self.measurements
        if group_by_workload:
            order = {w: i for i, w in enumerate(dict.fromkeys(m.workload for m in measurements))}
            measurements = sorted(measurements, key=lambda m: order[m.workload])
        rows = [header]
        breaks = set()
        for m in measurements:
            if group_by_workload and len(rows) > 1 and rows[-1][0] != m.workload:
                breaks.add(len(rows))
            ratios = [self.ratio(m, name) for name in baselines]
            rows.append(
                [m.workload, m.variant, f"{m.mb_per_s:,.1f}", f"{m.median_seconds:.4f}",
                 str(len(m.seconds))]
                + [cell(m) for _, cell in columns]
                + ["-" if r is None else f"{r:.2f}" for r in ratios]
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = []
        for i, row in enumerate(rows):
            if i in breaks:
                lines.append("")
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join([f"== {self.scenario} =="] + lines + self.notes)

    def to_json(self, path: str | Path, baselines: list[str]) -> None:
        payload = {
            "scenario": self.scenario,
            "notes": self.notes,
            "meta": self.meta,
            "measurements": [
                asdict(m) | {
                    "median_seconds": m.median_seconds,
                    "mb_per_s": m.mb_per_s,
                    "ratios": {name: self.ratio(m, name) for name in baselines},
                }
                for m in self.measurements
            ],
        }
        Path(path).write_text(json.dumps(payload, indent=2))

    def save(self, json_path: str | None, plot_dir: str | None, baselines: list[str]) -> None:
        """Write the JSON and the plots a scenario was asked for, saying where they went."""
        if json_path:
            self.to_json(json_path, baselines)
            print(f"\nJSON written to {json_path}")
        if plot_dir:
            for path in self.plot(plot_dir):
                print(f"plot written to {path}")

    def plot(self, directory: str | Path) -> list[Path]:
        """One bar chart of MB/s per workload; returns the PNG paths written."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for workload in dict.fromkeys(m.workload for m in self.measurements):
            rows = [m for m in self.measurements if m.workload == workload]
            figure, axes = plt.subplots(figsize=(8, 0.5 * len(rows) + 1.5))
            speeds = [m.mb_per_s for m in rows]
            bars = axes.barh([m.variant for m in rows], speeds)
            axes.bar_label(bars, labels=[f"{v:,.0f}" if v >= 10 else f"{v:.2g}" for v in speeds],
                           padding=3, fontsize=8)
            axes.invert_yaxis()  # rows in table order, top to bottom
            log_scale = max(speeds) > 100 * min(speeds)
            if log_scale:
                axes.set_xscale("log")
            axes.set_xlabel("MB/s (median" + (", log scale)" if log_scale else ")"))
            axes.set_title(f"{self.scenario}: {workload}")
            figure.tight_layout()
            path = directory / f"{self.scenario}-{workload}.png".replace(" ", "_")
            figure.savefig(path)
            plt.close(figure)
            written.append(path)
        return written
