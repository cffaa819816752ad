"""``tierfs-bench writecache``: the write-back buffer against all-SSD, all-disk and write-through.

The same files (a few large, many small) are written four ways — (a) into a write-back
buffer on an SSD-class device that uploads to a disk-class target, (b) straight to an
SSD-class target, (c) straight to a disk-class target, (d) straight to SeaweedFS — and
each is timed twice from the same start: until the writer saw every acknowledgement, and
until every byte was durable in the target. Devices are modeled (see ``device_model``),
because this machine has one kind of disk; the model is printed with the results.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import fsspec

from tierfs_bench.cli import size_arg
from tierfs_bench.device_model import HDD_7200RPM, SATA_SSD
from tierfs_bench.report import Measurement, Report
from tierfs_bench.writecache_variants import LEGEND, VARIANTS, Files, Setup

BASELINES = ["all-ssd", "all-disk"]
TARGETS = {"all-ssd": 0.8, "all-disk": 2.0}  # acknowledged throughput of write-back, at least
SUSTAINED_FILE = 4 * 2**20
_VERDICT = {True: "PASS", False: "MISS", None: "info"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "writecache", help="write-back buffer vs all-SSD, all-disk and write-through S3",
        description=__doc__.splitlines()[0],
    )
    out = parser.add_argument_group("output")
    out.add_argument("--runs", type=int, default=3, help="runs per variant (median; default 3)")
    out.add_argument("--json", metavar="FILE", help="write the results as JSON")
    out.add_argument("--plot", metavar="DIR", help="write one PNG bar chart per workload")
    out.add_argument("--strict", action="store_true",
                     help="exit 1 if write-back misses its targets (0.8x all-ssd, 2x all-disk)")
    data = parser.add_argument_group("data (default: 4 x 64 MiB + 300 x 64 KiB)")
    data.add_argument("--large-files", type=int, default=4)
    data.add_argument("--large-size", type=size_arg, default=64 * 2**20)
    data.add_argument("--small-files", type=int, default=300)
    data.add_argument("--small-size", type=size_arg, default=64 * 2**10)
    data.add_argument("--quick", action="store_true",
                      help="2 x 4 MiB + 40 x 16 KiB, sustained 24 MiB through 8 MiB, one run")
    data.add_argument("--sustained-buffer", type=size_arg, default=64 * 2**20,
                      help="buffer_capacity of the sustained run (default 64MiB)")
    data.add_argument("--sustained-factor", type=int, default=4,
                      help="the sustained run writes this many times its buffer in 4 MiB "
                           "files (default 4; 0: no sustained run)")
    write = parser.add_argument_group("writers and buffer")
    write.add_argument("--writers", type=int, default=4, help="writer threads (default 4)")
    write.add_argument("--buffer-capacity", type=size_arg, default=2**30,
                       help="write-back buffer_capacity (default 1GiB: holds a whole run)")
    write.add_argument("--upload-workers", type=int, default=4)
    write.add_argument("--variants", default=",".join(VARIANTS),
                       help=f"comma-separated subset of {','.join(VARIANTS)}")
    model = parser.add_argument_group("device model")
    model.add_argument("--ssd-latency-ms", type=float, default=SATA_SSD.latency_s * 1e3)
    model.add_argument("--ssd-mbps", type=float, default=SATA_SSD.bandwidth / 1e6)
    model.add_argument("--disk-latency-ms", type=float, default=HDD_7200RPM.latency_s * 1e3)
    model.add_argument("--disk-mbps", type=float, default=HDD_7200RPM.bandwidth / 1e6)
    model.add_argument("--sensitivity", action="store_true",
                       help="also run write-back and all-disk once under disk models of "
                            "1/4x, 2x the latency and 1/2x, 2x the bandwidth")
    where = parser.add_argument_group("where")
    where.add_argument("--device-dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                       help="where the modeled devices (buffers and targets) keep their bytes "
                       "(default /dev/shm, so this machine's disk adds nothing to the model)")
    where.add_argument("--workdir", help="SeaweedFS data (default: a new temporary directory)")
    where.add_argument("--endpoint", help="S3 endpoint for (d) instead of an embedded SeaweedFS")
    where.add_argument("--key", help="access key for --endpoint")
    where.add_argument("--secret", help="secret key for --endpoint")
    where.add_argument("--bucket", default="tierfs-bench-writecache")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.quick:
        args = replace_args(args, large_files=2, large_size=4 * 2**20, small_files=40,
                            small_size=16 * 2**10, runs=1, sustained_buffer=8 * 2**20,
                            sustained_factor=3)
    names = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown or args.runs < 1:
        raise SystemExit(f"unknown variants {unknown}" if unknown else "--runs must be >= 1")
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    # modeled targets cannot be described for 'tierfs writeback flush'; nothing to flush here
    logging.getLogger("tierfs.writeback.target").setLevel(logging.ERROR)
    with ExitStack() as stack:
        setup = _setup(args, names, stack)
        data_sets, buffers = _data_sets(args)
        report = measure(setup, names, data_sets, args.runs, buffers)
        if args.sensitivity:
            bursts = [f for name, files in data_sets.items() if name not in buffers
                      for f in files]
            report.notes += sensitivity_lines(report, sensitivity(setup, bursts))
    print(report.table(BASELINES, group_by_workload=True))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        report.to_json(args.json, BASELINES)
    if args.plot:
        for path in report.plot(args.plot):
            _log(f"wrote {path}")
    missed = [check for check in report.meta["checks"] if check["passed"] is False]
    return 1 if args.strict and missed else 0


def replace_args(args: argparse.Namespace, **changes) -> argparse.Namespace:
    return argparse.Namespace(**(vars(args) | changes))


def _data_sets(args: argparse.Namespace) -> tuple[dict[str, Files], dict[str, int]]:
    """Large and small files (a burst the buffer holds), and a sustained run of 4 MiB files
    larger than its own buffer, all cut from one random block (contents differ per file);
    with the buffer capacity of each data set that does not use ``--buffer-capacity``."""
    pool = os.urandom(max(args.large_size, args.small_size, SUSTAINED_FILE) + 4096)
    large = [(f"large/{i:03d}", pool[i:i + args.large_size]) for i in range(args.large_files)]
    small = [
        (f"small/{i // 100:03d}/{i:05d}", pool[i % 4096:i % 4096 + args.small_size])
        for i in range(args.small_files)
    ]
    sets = {name: files for name, files in (("large files", large), ("small files", small))
            if files}
    buffers = {}
    count = args.sustained_factor * args.sustained_buffer // SUSTAINED_FILE
    if count > 0:
        mib = 2**20
        name = (f"sustained {count * SUSTAINED_FILE // mib} MiB, buffer "
                f"{args.sustained_buffer / mib:g} MiB")
        sets[name] = [(f"sustained/{i:05d}", pool[i % 4096:i % 4096 + SUSTAINED_FILE])
                      for i in range(count)]
        buffers[name] = args.sustained_buffer
    return sets, buffers


def _setup(args: argparse.Namespace, names: list[str], stack: ExitStack) -> Setup:
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="tierfs-bench-writecache-"))
    workdir.mkdir(parents=True, exist_ok=True)
    devices = Path(tempfile.mkdtemp(prefix="tierfs-bench-devices-", dir=args.device_dir))
    stack.callback(shutil.rmtree, devices, ignore_errors=True)
    if not args.workdir:
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
    s3 = None
    if "seaweedfs" in names:
        s3 = fsspec.filesystem("s3", skip_instance_cache=True, use_listings_cache=False,
                               **_storage_options(args, workdir, stack))
        if not s3.exists(args.bucket):
            s3.mkdir(args.bucket)
    return Setup(
        ssd=replace(SATA_SSD, latency_s=args.ssd_latency_ms / 1e3, bandwidth=args.ssd_mbps * 1e6),
        disk=replace(HDD_7200RPM, latency_s=args.disk_latency_ms / 1e3,
                     bandwidth=args.disk_mbps * 1e6),
        buffer_root=devices / "ssd-buffers",
        target_root=devices / "targets",
        writers=args.writers,
        buffer_capacity=args.buffer_capacity,
        upload_workers=args.upload_workers,
        s3=s3,
        bucket=args.bucket,
    )


def _storage_options(args: argparse.Namespace, workdir: Path, stack: ExitStack) -> dict:
    if args.endpoint:
        options = {"client_kwargs": {"endpoint_url": args.endpoint, "region_name": "us-east-1"}}
        return options | ({"key": args.key, "secret": args.secret} if args.key else {})
    from tierfs.embedded import EmbeddedS3

    (workdir / "seaweed").mkdir(exist_ok=True)
    server = EmbeddedS3(workdir / "seaweed", volume_size_mb=256)
    stack.callback(server.stop)
    _log("starting an embedded SeaweedFS ...")
    server.start()
    return server.storage_options()


def measure(setup: Setup, names: list[str], data_sets: dict[str, Files], runs: int,
            buffers: dict[str, int] | None = None, on_run=None) -> Report:
    """Every variant on every data set, ``runs`` times, in an order rotated per run.

    ``buffers`` names the data sets written through a buffer of their own capacity (the
    sustained run); 'all files' adds up the others. ``on_run()`` after each data set.
    """
    buffers = buffers or {}
    report = Report("writecache")
    rows: dict[tuple[str, str], Measurement] = {}
    bursts = {name: files for name, files in data_sets.items() if name not in buffers}
    for run_index in range(runs):
        order = names[run_index % len(names):] + names[:run_index % len(names)]
        for variant in order:
            totals = [0.0, 0.0]
            for data_name, files in data_sets.items():
                capacity = buffers.get(data_name, setup.buffer_capacity)
                timing = VARIANTS[variant](replace(setup, buffer_capacity=capacity), files)
                _log(f"run {run_index + 1}/{runs} {variant:10s} {data_name}: "
                     f"ack {timing.ack_s:.2f} s, durable {timing.durable_s:.2f} s")
                for kind, seconds in (("ack", timing.ack_s), ("durable", timing.durable_s)):
                    row = _row(report, rows, variant, f"{data_name}, {kind}", files)
                    row.seconds.append(seconds)
                    row.extra.setdefault("ssd_requests", []).append(timing.ssd_requests)
                if data_name in bursts:
                    totals[0] += timing.ack_s
                    totals[1] += timing.durable_s
                if on_run is not None:
                    on_run()
            every = [f for files in bursts.values() for f in files]
            for kind, seconds in zip(("ack", "durable"), totals, strict=True):
                _row(report, rows, variant, f"all files, {kind}", every).seconds.append(seconds)
    _describe(report, setup, data_sets, buffers)
    return report


def sensitivity(setup: Setup, files: Files) -> list[dict]:
    """Write-back against all-disk, once each, under disk models around ``setup.disk``."""
    base = setup.disk
    models = [base] + [replace(base, latency_s=base.latency_s * f) for f in (0.25, 2)] + [
        replace(base, bandwidth=base.bandwidth * f) for f in (0.5, 2)]
    rows = []
    for model in models:
        modelled = replace(setup, disk=model)
        back, disk = VARIANTS["write-back"](modelled, files), VARIANTS["all-disk"](modelled, files)
        _log(f"sensitivity {model_label(model)}: write-back ack {back.ack_s:.2f} s, durable "
             f"{back.durable_s:.2f} s; all-disk {disk.durable_s:.2f} s")
        rows.append({"disk_model": model_label(model), "default": model == base,
                     "ack_ratio": disk.durable_s / back.ack_s,
                     "durable_ratio": disk.durable_s / back.durable_s})
    return rows


def sensitivity_lines(report: Report, rows: list[dict]) -> list[str]:
    report.meta["sensitivity"] = rows
    lines = ["", "disk model sensitivity (all files, one run each; ratio = all-disk time / "
             "write-back time):", f"  {'disk model':<34} {'ack ratio':>9}  {'durable ratio':>13}"]
    lines += [f"  {row['disk_model'] + (' (default)' if row['default'] else ''):<34} "
              f"{row['ack_ratio']:>9.2f}  {row['durable_ratio']:>13.2f}" for row in rows]
    return lines


def model_label(model) -> str:
    return (f"{model.latency_s * 1e3:g} ms + {model.bandwidth / 1e6:g} MB/s, "
            f"QD{model.queue_depth}")


def _row(report: Report, rows: dict, variant: str, workload: str, files: Files) -> Measurement:
    key = (variant, workload)
    if key not in rows:
        rows[key] = report.add(Measurement(variant, workload, sum(len(d) for _, d in files)))
    return rows[key]


def _describe(report: Report, setup: Setup, data_sets: dict[str, Files],
              buffers: dict[str, int]) -> None:
    checks = []
    models = {"all-ssd": setup.ssd, "all-disk": setup.disk}
    for baseline, target in TARGETS.items():
        for workload in ["all files, ack"] + [f"{name}, ack" for name in data_sets]:
            ours = report.find("write-back", workload)
            ratio = None if ours is None else report.ratio(ours, baseline)
            burst = workload.removesuffix(", ack") not in buffers
            checks.append({
                "check": f"write-back {workload} " + (f">= {target}x {baseline}" if burst
                                                      else f"/ {baseline} (reported)"),
                "ratio": ratio,
                "passed": None if not burst else ratio is not None and ratio >= target,
                "model": f"SSD {model_label(setup.ssd)} vs {baseline} "
                         f"{model_label(models[baseline])}",
            })
    report.meta = {
        "device_models": {"ssd": vars(setup.ssd), "disk": vars(setup.disk)},
        "writers": setup.writers,
        "upload_workers": setup.upload_workers,
        "buffer_capacity": setup.buffer_capacity,
        "data": {name: {"files": len(files), "bytes": sum(len(d) for _, d in files)}
                 for name, files in data_sets.items()},
        "legend": LEGEND,
        "checks": checks,
    }
    report.notes += [
        "",
        "device model (every variant, every fsync is one request on its device):",
        f"  {setup.ssd.describe()}",
        f"  {setup.disk.describe()}",
        "  a file written straight to a target: its bytes (file fsync) + an empty request "
        "(directory fsync); all bytes (targets and buffers) kept in tmpfs, so only the model "
        "takes time",
        "  write-back: per acknowledged file two SSD requests (its bytes, its journal record) "
        "+ one per 64 files (blob names), charged around WriteBackBuffer.pipe; per upload "
        "three more (reading its bytes, its done record, unlinking its blob), charged by the "
        "uploader; uploads pay the disk model",
        *(f"  '{name}': {len(data_sets[name])} files through a buffer of "
          f"{capacity / 2**20:g} MiB (when full, writers wait): acknowledgements at upload "
          "speed once it filled" for name, capacity in buffers.items()),
        f"writers: {setup.writers} threads; upload workers: {setup.upload_workers}; "
        "MB/s of 'durable' rows = bytes / time until all is durable in the target",
        *(f"  {name}: {text}" for name, text in LEGEND.items()),
        "checks (acknowledged throughput; each ratio holds for its device models only):",
        *(f"  {c['check']}: " + ("missing: FAIL" if c["ratio"] is None else
          f"{c['ratio']:.2f} {_VERDICT[c['passed']]}") + f"  [{c['model']}]" for c in checks),
    ]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
