"""``tierfs-bench engines``: a PyTorch epoch and a Spark query, cold, warm and direct.

Each engine reads the same data straight from S3 (s3fs), then through tierfs with tiers of
its own (a first, cold pass over empty tiers and a second, warm one), then through tierfs
and a real daemon process (cold, warm), in rounds of one run per variant. Reported:
seconds, bytes fetched from the store, and the issue's targets as PASS/FAIL.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from contextlib import ExitStack, nullcontext
from pathlib import Path

import fsspec

from tierfs.embedded import EmbeddedS3
from tierfs_bench.cli import size_arg
from tierfs_bench.engines_store import (
    Access,
    MiB,
    PassResult,
    Store,
    own_tiers,
    start_daemon,
    through_daemon,
)
from tierfs_bench.report import Measurement, Report
from tierfs_bench.shuffle_checks import Target

ENGINES = ("torch", "spark")
DIRECT = "direct (s3fs)"
VARIANTS = (DIRECT, "tierfs cold", "tierfs warm", "daemon cold", "daemon warm")
WARM_OVER_DIRECT_LIMIT = 0.5


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "engines", help="PyTorch epoch and Spark query: direct vs tierfs cold/warm, with and "
                        "without the daemon", description=__doc__.splitlines()[0])
    job = parser.add_argument_group("job")
    job.add_argument("--size", type=size_arg, default=2**30,
                     help="bytes of PyTorch shards (default 1GiB)")
    job.add_argument("--shard-size", type=size_arg, default=16 * MiB,
                     help="bytes per shard (default 16MiB)")
    job.add_argument("--workers", type=int, default=4, help="DataLoader workers (default 4)")
    job.add_argument("--spark-size", type=size_arg, default=256 * MiB,
                     help="bytes of Parquet for the Spark query (default 256MiB)")
    job.add_argument("--runs", type=int, default=3, help="rounds of every variant (default 3)")
    job.add_argument("--engines", default=",".join(ENGINES),
                     help=f"comma-separated, from {','.join(ENGINES)} (default both)")
    where = parser.add_argument_group("where")
    where.add_argument("--workdir", help="tiers and daemons (default: a temporary directory, "
                                         "removed afterwards)")
    where.add_argument("--endpoint", help="S3 endpoint (default: an embedded SeaweedFS)")
    where.add_argument("--key", help="access key for --endpoint")
    where.add_argument("--secret", help="secret key for --endpoint")
    where.add_argument("--bucket", default="tierfs-bench-engines",
                       help="bucket (or bucket/prefix) for the data")
    out = parser.add_argument_group("output")
    out.add_argument("--json", metavar="FILE", help="write the results as JSON")
    out.add_argument("--plot", metavar="DIR", help="write a PNG bar chart per engine")
    out.add_argument("--strict", action="store_true",
                     help="exit with 1 when a target fails too (default: only on wrong results)")
    parser.set_defaults(run=run)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace, spark=None) -> int:
    """The scenario; ``spark``: an existing SparkSession to use instead of starting one."""
    engines = [name.strip() for name in args.engines.split(",") if name.strip()]
    if not engines or set(engines) - set(ENGINES):
        raise SystemExit(f"--engines: choose from {', '.join(ENGINES)}")
    if args.runs < 1 or args.workers < 1:
        raise SystemExit("--runs and --workers must be at least 1")
    report = Report("engines")
    with ExitStack() as stack:
        store = _store(args, stack)
        workdir = _workdir(args, stack)
        for name in engines:
            engine = _engine(name, args, store, stack, spark)
            _measure(engine, args, store, workdir / name, report)
    checks = evaluate_checks(report)
    _describe(args, report, checks)
    print()
    print(report.table([], columns=_columns(report)))
    report.save(args.json, args.plot, [])
    wrong = any(not m.extra["verified"] for m in report.measurements)
    failed = any(check.passed is False for check in checks)
    return 1 if wrong or (args.strict and failed) else 0


def _engine(name: str, args: argparse.Namespace, store: Store, stack: ExitStack, spark):
    log(f"writing the {name} data set ...")
    if name == "torch":
        from tierfs_bench.engines_torch import TorchEpoch

        return TorchEpoch(store, args.size, args.shard_size, args.workers)
    from tierfs_bench.engines_spark import SparkQuery, spark_session

    session = stack.enter_context(nullcontext(spark) if spark else spark_session())
    return SparkQuery(session, store, args.spark_size)


def _measure(engine, args: argparse.Namespace, store: Store, workdir: Path,
             report: Report) -> None:
    """Rounds of every variant; tiers and daemons are new (empty) in every round."""
    capacity = 2 * engine.nbytes + 256 * MiB
    rows = {variant: report.add(Measurement(variant, engine.workload, engine.nbytes,
                                            extra={"fetched": [], "verified": True}))
            for variant in VARIANTS}

    def one(variant: str, access: Access) -> None:
        before = access.daemon_fetched()
        result = engine.run(access)
        if access.daemon is not None:
            result.fetched += access.daemon_fetched() - before
        _record(rows[variant], result)

    log(f"{engine.workload} | warm-up: one direct pass, not recorded (JIT, workers, "
        "connections)")
    engine.run(Access())
    for round_ in range(args.runs):
        directory = workdir / f"round-{round_}"
        one(DIRECT, Access())
        tiers = own_tiers(directory / "tiers", capacity)
        one("tierfs cold", tiers)
        one("tierfs warm", tiers)
        daemon = start_daemon(store, directory / "daemon", capacity)
        try:
            one("daemon cold", through_daemon(daemon))
            one("daemon warm", through_daemon(daemon))
        finally:
            daemon.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _record(measurement: Measurement, result: PassResult) -> None:
    measurement.seconds.append(result.seconds)
    measurement.extra["fetched"].append(result.fetched)
    measurement.extra["verified"] = measurement.extra["verified"] and not result.problems
    fetched = "-" if result.fetched is None else f"{result.fetched / MiB:,.1f} MiB"
    log(f"{measurement.workload} | {measurement.variant:<13} {result.seconds:8.2f} s, "
        f"fetched {fetched}" + (f", WRONG: {result.problems}" if result.problems else ""))


def _over_direct(report: Report, m: Measurement) -> float | None:
    direct = report.find(DIRECT, m.workload)
    return None if direct is None else m.median_seconds / direct.median_seconds


def _columns(report: Report) -> list:
    def fetched(m: Measurement) -> str:
        """The most any run fetched: a warm pass must fetch nothing in every run."""
        runs = m.extra["fetched"]
        return "-" if runs[0] is None else f"{max(runs) / MiB:,.1f}"

    def over_direct(m: Measurement) -> str:
        ratio = _over_direct(report, m)
        return "-" if ratio is None else f"{ratio:.2f}"

    return [("fetched MiB", fetched), ("s / direct", over_direct),
            ("verified", lambda m: "yes" if m.extra["verified"] else "WRONG")]


def evaluate_checks(report: Report) -> list[Target]:
    """The targets of issue 14: warm passes fetch nothing, a warm epoch takes half the time."""
    checks = []
    for engine, label in (("torch", "epoch"), ("spark", "query")):
        for mode in ("tierfs", "daemon"):
            row = _row(report, engine, f"{mode} warm")
            checks.append(Target(f"{engine}: {mode} warm {label}: bytes fetched",
                                 None if row is None else max(row.extra["fetched"]), 0,
                                 at_most=True))
    for mode in ("tierfs", "daemon"):
        row = _row(report, "torch", f"{mode} warm")
        checks.append(Target(f"torch: {mode} warm epoch s / direct s",
                             None if row is None else _over_direct(report, row),
                             WARM_OVER_DIRECT_LIMIT, at_most=True))
    return checks


def _row(report: Report, engine: str, variant: str) -> Measurement | None:
    return next((m for m in report.measurements
                 if m.variant == variant and m.workload.startswith(engine)), None)


def _describe(args: argparse.Namespace, report: Report, checks: list[Target]) -> None:
    report.meta.update({
        "size": args.size, "shard_size": args.shard_size, "workers": args.workers,
        "spark_size": args.spark_size, "runs": args.runs,
        "checks": [check.as_dict() for check in checks],
    })
    report.notes += [
        "", "targets (issue 14):"] + ["  " + check.line() for check in checks] + [
        "",
        "direct: torch opens s3:// with fsspec (s3fs); Spark reads through a Python data source "
        "running tierfs's own Parquet planning and reading over plain s3fs (exact ranged reads, "
        "no read-ahead). tierfs: the client processes share one ssd tier (no private memory "
        "tier); daemon: they go through a daemon process (256 MiB memory + ssd tier). "
        "cold = the first pass over empty tiers, warm = the next pass (new DataLoader workers; "
        "the same Spark session).",
        "fetched MiB: bytes read from the store, the most of any run; summed over the client "
        "processes' tierfs cache_stats (DataLoader workers; Spark's planner and reader "
        "processes), plus the daemon's under_store_bytes. cache_stats waits until fetched blocks "
        "are in the tiers, and cold times include it: each DataLoader worker reads it after "
        "its last shard, Spark's processes after each planning call and partition. "
        "s / direct = median seconds over direct's.",
    ]


def _store(args: argparse.Namespace, stack: ExitStack) -> Store:
    if args.endpoint:
        options = {"client_kwargs": {"endpoint_url": args.endpoint, "region_name": "us-east-1"}}
        if args.key:
            options |= {"key": args.key, "secret": args.secret}
    else:
        server = stack.enter_context(EmbeddedS3())
        options = server.storage_options()
    store = Store(args.bucket.strip("/"), options)
    s3 = fsspec.filesystem("s3", **options)
    s3.makedirs(store.bucket, exist_ok=True)
    stack.callback(s3.rm, store.data, recursive=True)
    return store


def _workdir(args: argparse.Namespace, stack: ExitStack) -> Path:
    if args.workdir:
        path = Path(args.workdir)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tierfs-bench-engines-")))

