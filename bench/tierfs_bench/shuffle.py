"""``tierfs-bench shuffle``: a TeraSort-style sort through tierfs's shuffle services and Dask's own.

Every mode sorts the same 100-byte records (generated in the workers from a seed) on one
2-worker Dask cluster, in rounds of one run per mode; each output is verified (sorted,
record count, checksum) and the table gives time, MB/s, peak worker RSS and bytes written.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from contextlib import ExitStack, contextmanager, nullcontext
from pathlib import Path

from tierfs_bench.cli import size_arg
from tierfs_bench.report import Measurement, Report
from tierfs_bench.shuffle_checks import evaluate_targets
from tierfs_bench.shuffle_data import RECORD_SIZE, combine, records
from tierfs_bench.shuffle_measure import RunResult, import_engines, run_once, summaries
from tierfs_bench.shuffle_modes import MODES, Backends, Mode, build_mode
from tierfs_bench.shuffle_store_floor import measure_upload_floor

BASELINES = ["p2p", "tasks"]
_MiB = 2**20


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "shuffle", help="TeraSort through tierfs shuffle services vs Dask's tasks/disk/p2p",
        description=__doc__.splitlines()[0])
    job = parser.add_argument_group("job")
    job.add_argument("--size", type=size_arg, default=2**30, help="bytes of records (1GiB)")
    job.add_argument("--partition-size", type=size_arg, default=32 * _MiB,
                     help="bytes per input partition; as many output partitions (32MiB)")
    job.add_argument("--seed", type=int, default=0)
    job.add_argument("--runs", type=int, default=3, help="timed runs per mode (default 3)")
    job.add_argument("--modes", default=",".join(MODES),
                     help=f"comma-separated, from {','.join(MODES)} (default all)")
    where = parser.add_argument_group("where")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="use this Dask scheduler's workers (default: start a LocalCluster "
                            "of 2 processes, a new one for every run)")
    where.add_argument("--workdir", help="local shuffle files, SeaweedFS and the daemon "
                                         "(default: a temporary directory, removed afterwards)")
    where.add_argument("--keep", action="store_true", help="keep the work directory")
    where.add_argument("--endpoint", help="S3 endpoint (default: an embedded SeaweedFS)")
    where.add_argument("--key", help="access key for --endpoint")
    where.add_argument("--secret", help="secret key for --endpoint")
    where.add_argument("--bucket", default="tierfs-bench-shuffle",
                       help="bucket (or bucket/prefix) of the s3 modes")
    out = parser.add_argument_group("output")
    out.add_argument("--json", metavar="FILE", help="write the results as JSON")
    out.add_argument("--plot", metavar="DIR", help="write a PNG bar chart of MB/s")
    out.add_argument("--strict", action="store_true",
                     help="exit with 1 when a target of issue 13 fails too (default: only "
                          "when a mode fails or its output is wrong)")
    parser.set_defaults(run=run)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    names = [name.strip() for name in args.modes.split(",") if name.strip()]
    unknown = sorted(set(names) - set(MODES))
    if unknown or not names:
        raise SystemExit(f"--modes: unknown {unknown}; choose from {', '.join(MODES)}")
    if args.runs < 1:
        raise SystemExit("--runs must be at least 1")
    if args.size < RECORD_SIZE or args.partition_size < RECORD_SIZE:
        raise SystemExit(f"--size and --partition-size: at least one {RECORD_SIZE}-byte record")
    with ExitStack() as stack:
        workdir = _workdir(args, stack)
        backends = Backends(workdir, stack, args.bucket, _s3_options(args))
        modes = [build_mode(name, backends) for name in names]
        clients = _clients(args, stack, workdir)
        report = Report("shuffle")
        failures = _measure(args, clients, modes, report, backends)
        _add_upload_floor(args, backends, report)
    targets = evaluate_targets(report)
    report.meta["targets"] = [target.as_dict() for target in targets]
    report.notes += ["", "targets (issue 13, best tierfs mode = the fastest):"]
    report.notes += ["  " + target.line() for target in targets]
    print()
    print(report.table(BASELINES, columns=_COLUMNS))
    report.save(args.json, args.plot, BASELINES)
    failed_targets = sum(1 for target in targets if target.passed is False)
    return 1 if failures or (args.strict and failed_targets) else 0


def _measure(args: argparse.Namespace, clients: Callable, modes: list[Mode],
             report: Report, backends: Backends) -> int:
    """Rounds of one run per available mode; returns the number of failed modes."""
    total_records = args.size // RECORD_SIZE
    workload = f"terasort {_size_text(args.size)}"
    log(f"checksumming the input ({total_records:,} records) in the workers ...")
    with clients() as client:
        client.run(import_engines)
        started = time.perf_counter()
        expected = combine(summaries(client, records(args.size, args.partition_size,
                                                     args.seed, "input")))
        baseline_seconds = time.perf_counter() - started
    available = [mode for mode in modes if mode.unavailable is None]
    measurements = {mode.name: report.add(Measurement(
        mode.name, workload, total_records * RECORD_SIZE,
        extra={"peak_rss": [], "start_rss": [], "disk_write_bytes": [], "stored_bytes": [],
               "worker_cpu": [], "service_cpu": [], "verified": True}))
        for mode in available}
    failed: dict[str, str] = {}
    for round_ in range(args.runs):
        for mode in available:
            if mode.name in failed:
                continue
            ddf = records(args.size, args.partition_size, args.seed, f"{mode.name}-{round_}")
            try:
                with clients() as client:
                    result = run_once(client, mode, ddf, expected,
                                      backends.service_pid(mode.name))
            except Exception as error:  # noqa: BLE001 - report the mode, measure the rest
                traceback.print_exception(error)
                failed[mode.name] = f"{type(error).__name__}: {error}"
                continue
            _record(measurements[mode.name], result)
            if result.problems:
                failed[mode.name] = "wrong output: " + "; ".join(result.problems)
            log(f"{mode.name:<11} run {round_ + 1}: {result.seconds:7.2f} s, peak RSS "
                f"{_rss_text(result.peak_rss)} MiB"
                + (f", WRONG OUTPUT: {result.problems}" if result.problems else ""))
    report.measurements = [m for m in report.measurements if m.seconds]
    _describe(args, report, modes, failed, expected, baseline_seconds)
    return len(failed)


def _add_upload_floor(args: argparse.Namespace, backends: Backends, report: Report) -> None:
    """Beside the s3 mode, the time the store alone takes to accept its bytes."""
    found = {m.variant: m for m in report.measurements}
    if "s3" not in found or backends.s3_options is None:
        return
    stored = _median(found["s3"].extra["stored_bytes"])
    maps = max(1, args.size // args.partition_size)
    log(f"timing the store's upload floor ({stored / _MiB:,.0f} MiB) ...")
    floor = measure_upload_floor(backends.s3_options, backends.bucket, stored, maps, writers=2)
    report.meta["upload_floor"] = {"bytes": floor.nbytes, "objects": floor.objects,
                                   "writers": floor.writers, "seconds": floor.seconds}
    report.notes.append(floor.line())
    if "local" in found:
        report.notes.append(f"store upload floor / local seconds = "
                            f"{floor.seconds / found['local'].median_seconds:.2f}")


def _record(measurement: Measurement, result: RunResult) -> None:
    extra = measurement.extra
    measurement.seconds.append(result.seconds)
    extra["peak_rss"].append(result.peak_rss)
    extra["start_rss"].append(result.start_rss)
    extra["disk_write_bytes"].append(result.disk_write_bytes)
    extra["stored_bytes"].append(result.stored_bytes)
    extra["worker_cpu"].append(result.worker_cpu)
    extra["service_cpu"].append(result.service_cpu)
    extra["verified"] = extra["verified"] and not result.problems


def _median(values: list) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def _rss_text(per_worker: list[int]) -> str:
    return "/".join(f"{rss / _MiB:.0f}" for rss in per_worker)


def _peak_rss_cell(m: Measurement) -> str:
    runs = m.extra["peak_rss"]
    return _rss_text([_median([run[i] for run in runs]) for i in range(len(runs[0]))])


def _stored_cell(m: Measurement) -> str:
    stored = m.extra["stored_bytes"]
    return "-" if stored[0] is None else f"{_median(stored) / _MiB:,.0f}"


def _cpu_cell(m: Measurement) -> str:
    """Median CPU seconds of the workers, plus the serving process's (store, daemon)."""
    workers = f"{_median(m.extra['worker_cpu']):.1f}"
    service = m.extra["service_cpu"]
    return workers if service[0] is None else f"{workers} + {_median(service):.1f}"


_COLUMNS = [
    ("peak RSS MiB/worker", _peak_rss_cell),
    ("CPU s workers + service", _cpu_cell),
    ("stored MiB", _stored_cell),
    ("disk writes MiB", lambda m: f"{_median(m.extra['disk_write_bytes']) / _MiB:,.0f}"),
    ("verified", lambda m: "yes" if m.extra["verified"] else "WRONG"),
]


def _size_text(nbytes: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", _MiB), ("KiB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:g} {unit}"
    return f"{nbytes} B"


def _describe(args: argparse.Namespace, report: Report, modes: list[Mode],
              failed: dict[str, str], expected: tuple[int, int], baseline_seconds: float,
              ) -> None:
    legend = {mode.name: mode.description for mode in modes}
    unavailable = {mode.name: mode.unavailable for mode in modes if mode.unavailable}
    report.meta.update({
        "size": args.size, "partition_size": args.partition_size, "seed": args.seed,
        "runs": args.runs, "modes": legend, "unavailable": unavailable, "failed": failed,
        "records": expected[0], "checksum": expected[1],
        "fresh_cluster_per_run": not args.scheduler, "generate_and_check_seconds": baseline_seconds,
    })
    notes = ["", "modes:"] + [f"  {name:<11} {text}" for name, text in legend.items()]
    notes += [f"UNAVAILABLE {name}: {why}" for name, why in unavailable.items()]
    notes += [f"FAILED {name}: {why}" for name, why in failed.items()]
    notes += [
        f"job: {expected[0]:,} records of {RECORD_SIZE} bytes (10-byte random keys) in "
        f"partitions of {_size_text(args.partition_size)}, generated in the workers, sorted "
        "on the key's first 8 bytes into as many partitions; each output partition is "
        "summarised in its worker. Verified: every partition sorted, boundaries in order, "
        f"record count and checksum equal to the input's. Generating and checking alone took "
        f"{baseline_seconds:.2f} s (included in every mode's time).",
        "MB/s = input bytes / median seconds; 'x p2p', 'x tasks' = throughput ratios. Peak RSS: "
        "median over runs of each worker's peak (sampled every 20 ms). stored = the tierfs "
        "service's size of the shuffle before it is deleted; disk writes = the workers' "
        "/proc/PID/io write_bytes during the run (what reached the block layer from them). "
        "CPU s: median CPU time of the workers during a run, + that of the process serving "
        "the shuffle on this machine (the embedded SeaweedFS, the daemon): on one machine "
        "all of it shares the same cores.",
        "workers NOT restarted between runs (--scheduler): peaks include what earlier runs left"
        if args.scheduler else "a new LocalCluster (2 workers) for every run",
    ]
    report.notes += notes


def _workdir(args: argparse.Namespace, stack: ExitStack) -> Path:
    if args.workdir:
        path = Path(args.workdir)
        path.mkdir(parents=True, exist_ok=True)
        return path
    path = Path(tempfile.mkdtemp(prefix="tierfs-bench-shuffle-"))
    if not args.keep:
        stack.callback(shutil.rmtree, path, ignore_errors=True)
    return path


def _s3_options(args: argparse.Namespace) -> dict | None:
    if not args.endpoint:
        return None
    options = {"client_kwargs": {"endpoint_url": args.endpoint, "region_name": "us-east-1"}}
    if args.key:
        options |= {"key": args.key, "secret": args.secret}
    return options


def _clients(args: argparse.Namespace, stack: ExitStack, workdir: Path) -> Callable:
    """A context manager giving a client for one run: of --scheduler's cluster, or of a new
    LocalCluster of 2 worker processes, so every run starts from fresh workers."""
    import distributed

    logging.getLogger("distributed").setLevel(logging.ERROR)  # p2p logs each shuffle
    if args.scheduler:
        shared = stack.enter_context(distributed.Client(args.scheduler))
        return lambda: nullcontext(shared)

    @contextmanager
    def local_cluster():
        with distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None, local_directory=str(workdir / "dask")) as cluster:
            with distributed.Client(cluster) as client:
                yield client

    return local_cluster
