"""``tierfs-bench read``: tierfs's block cache against direct s3fs, fsspec's caches and local files.

One run measures every variant on the same data set, with the same calls and the same
seeded offsets, and prints MB/s with ratios to direct s3fs (a) and to local files (e).
It measures reads only; writes, EC and shuffle have their own scenarios.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import tempfile
import time
import traceback
import uuid
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import fsspec

from tierfs.sizes import parse_size
from tierfs_bench.read_checks import evaluate_checks
from tierfs_bench.read_data import DataSet, DataSpec, build_dataset, remove_dataset
from tierfs_bench.read_measure import MAX_RUNS, Profiles, Session, log, log_measurement
from tierfs_bench.read_variants import Family, VariantConfig, build_families, tierfs_available
from tierfs_bench.read_workloads import Workload, verify, workloads
from tierfs_bench.remote_model import ModelParameters, through_model
from tierfs_bench.report import Measurement, Report

BASELINES = ["s3fs", "obstore", "local", "local mmap"]
_QUICK = DataSpec(large_files=2, large_size=8 * 2**20, small_files=32, random_reads=64)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "read", help="read throughput: tierfs vs s3fs, fsspec caches and local files",
        description=__doc__.splitlines()[0],
    )
    size = _size_arg
    out = parser.add_argument_group("output")
    out.add_argument("--runs", type=int, default=3,
                     help="timed runs per variant and workload (default 3)")
    out.add_argument("--min-time", type=float, default=0.5,
                     help=f"warm and uncached variants repeat (up to {MAX_RUNS} runs) until "
                          "their runs add up to this many seconds (default 0.5)")
    out.add_argument("--json", metavar="FILE", help="write the results as JSON")
    out.add_argument("--plot", metavar="DIR", help="write one PNG bar chart per workload")
    out.add_argument("--profile", metavar="DIR",
                     help="write a pyinstrument profile of each tierfs series (slows them)")
    out.add_argument("--strict", action="store_true",
                     help="exit with 1 when a required check fails (default: only when a "
                          "variant fails or reads wrong bytes)")
    data = parser.add_argument_group("data set (default: 4 x 64 MiB + 256 x 64 KiB)")
    data.add_argument("--quick", action="store_true",
                      help="tiny data set (2 x 8 MiB + 32 x 64 KiB, 64 random reads) for tests")
    data.add_argument("--scale", type=float, default=1.0,
                      help="multiply the large-file size and the small-file and random-read "
                           "counts by this factor")
    data.add_argument("--large-files", type=int)
    data.add_argument("--large-size", type=size)
    data.add_argument("--small-files", type=int)
    data.add_argument("--small-size", type=size)
    data.add_argument("--random-reads", type=int)
    data.add_argument("--random-size", type=size)
    data.add_argument("--read-size", type=size, help="sequential readinto buffer (default 4MiB)")
    cache = parser.add_argument_group("caches")
    cache.add_argument("--block-size", type=size, default=4 * 2**20,
                       help="tierfs and blockcache block size (default 4MiB)")
    cache.add_argument("--memory-capacity", type=size, default=2**30,
                       help="tierfs memory tier (default 1GiB)")
    cache.add_argument("--ssd-capacity", type=size, default=8 * 2**30,
                       help="tierfs SSD tier (default 8GiB)")
    cache.add_argument("--variants", metavar="NAMES",
                       help="comma-separated families to run besides the baselines (local, "
                            "s3fs, obstore): simplecache,filecache,blockcache,tierfs,"
                            "tierfs-ssd (default all)")
    cache.add_argument("--workloads", metavar="NAMES",
                       help="comma-separated: sequential,random,small-files,small-cat")
    where = parser.add_argument_group("where")
    where.add_argument("--workdir", help="local files and cache tiers (default: a temporary "
                                         "directory, removed afterwards)")
    where.add_argument("--keep", action="store_true", help="keep the work directory")
    where.add_argument("--endpoint", help="use this S3 endpoint instead of an embedded SeaweedFS")
    where.add_argument("--key", help="access key for --endpoint")
    where.add_argument("--secret", help="secret key for --endpoint")
    where.add_argument("--bucket", default="tierfs-bench-read")
    where.add_argument("--remote-model", action="store_true",
                       help="reach the store through a proxy modelling a remote one: "
                            "--model-latency before each request, --model-rate per connection")
    where.add_argument("--model-latency", type=float, default=30.0, metavar="MS",
                       help="first-byte latency per request, ms (default 30)")
    where.add_argument("--model-rate", type=size, default=80 * 10**6, metavar="BYTES",
                       help="bytes/s per connection (default 80MB)")
    rss = parser.add_argument_group("peak RSS check (separate process; not in the default run)")
    rss.add_argument("--rss", action="store_true",
                     help="also read --rss-bytes through tierfs in a child process and check "
                          "its peak RSS stays under memory tier + 300 MiB")
    rss.add_argument("--rss-only", action="store_true", help="run only the peak RSS check")
    rss.add_argument("--rss-bytes", type=size, default=4 * 2**30, help="default 4GiB")
    rss.add_argument("--rss-memory-capacity", type=size, default=256 * 2**20,
                     help="memory tier of the RSS check (default 256MiB)")
    parser.set_defaults(run=run)


def _size_arg(text: str) -> int:
    try:
        return parse_size(text, "size")
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def data_spec(args: argparse.Namespace) -> DataSpec:
    spec = _QUICK if args.quick else DataSpec()
    if args.scale != 1.0:
        if args.scale <= 0:
            raise ValueError(f"--scale must be positive, got {args.scale}")
        spec = replace(
            spec,
            large_size=max(spec.random_size, int(spec.large_size * args.scale)),
            small_files=max(1, round(spec.small_files * args.scale)),
            random_reads=max(1, round(spec.random_reads * args.scale)),
        )
    overrides = {
        name: getattr(args, name)
        for name in ("large_files", "large_size", "small_files", "small_size", "random_reads",
                     "random_size", "read_size")
        if getattr(args, name) is not None
    }
    return replace(spec, **overrides)


def run(args: argparse.Namespace) -> int:
    if args.runs < 1:
        raise SystemExit("--runs must be at least 1")
    spec = data_spec(args)
    # the embedded server's readiness probe retries through urllib3, which warns each time
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    with ExitStack() as stack:
        workdir = _workdir(args, stack)
        storage_options = _storage_options(args, workdir, stack)
        if args.remote_model:
            model = _model_parameters(args)
            log(model.describe())
            storage_options = through_model(storage_options, model, stack)
        failures = 0
        if not args.rss_only:
            failures += _compare(args, spec, storage_options, workdir)
        if args.rss or args.rss_only:
            from tierfs_bench.read_rss import run_rss_check

            failures += run_rss_check(args, storage_options, workdir)
    return 1 if failures else 0


def _model_parameters(args: argparse.Namespace) -> ModelParameters:
    return ModelParameters(latency=args.model_latency / 1e3, rate=args.model_rate)


def _workdir(args: argparse.Namespace, stack: ExitStack) -> Path:
    if args.workdir:
        path = Path(args.workdir)
        path.mkdir(parents=True, exist_ok=True)
        return path
    path = Path(tempfile.mkdtemp(prefix="tierfs-bench-read-"))
    if not args.keep:
        stack.callback(shutil.rmtree, path, ignore_errors=True)
    return path


def _storage_options(args: argparse.Namespace, workdir: Path, stack: ExitStack) -> dict:
    if args.endpoint:
        options = {"client_kwargs": {"endpoint_url": args.endpoint, "region_name": "us-east-1"}}
        if args.key:
            options |= {"key": args.key, "secret": args.secret}
        return options
    from tierfs.embedded import EmbeddedS3

    # the RSS check stores rss_bytes; 30 volumes of 64 MiB would not hold 4 GiB
    volume_mb = 512 if (args.rss or args.rss_only) else 64
    log(f"starting an embedded SeaweedFS in {workdir / 'seaweed'} ...")
    (workdir / "seaweed").mkdir(exist_ok=True)  # EmbeddedS3 expects an existing directory
    server = EmbeddedS3(workdir / "seaweed", volume_size_mb=volume_mb)
    stack.callback(server.stop)
    server.start()
    log(f"SeaweedFS S3 gateway at {server.endpoint_url}")
    return server.storage_options()


def _compare(args: argparse.Namespace, spec: DataSpec, storage_options: dict,
             workdir: Path) -> int:
    """The side-by-side comparison; returns the number of failed variants (and checks if strict)."""
    s3 = fsspec.filesystem("s3", skip_instance_cache=True, **storage_options)
    if not s3.exists(args.bucket):
        s3.mkdir(args.bucket)
    prefix = f"read-{uuid.uuid4().hex[:8]}"
    log(f"writing the data set ({spec.total_bytes / 2**20:,.0f} MiB) locally and to "
         f"s3://{args.bucket}/{prefix} ...")
    started = time.perf_counter()
    dataset = build_dataset(s3, spec, args.bucket, prefix, workdir / "local")
    log(f"data set ready in {time.perf_counter() - started:.1f} s")
    try:
        config = VariantConfig(
            storage_options=storage_options, block_size=args.block_size,
            memory_capacity=args.memory_capacity, ssd_capacity=args.ssd_capacity,
        )
        report = Report("read")
        failures = measure_all(args, dataset, config, workdir, report)
    finally:
        if args.endpoint and not args.keep:
            remove_dataset(s3, dataset)
    report.notes += _counter_notes(report)
    checks = evaluate_checks(report)
    report.meta["checks"] = [check.as_dict() for check in checks]
    required = [check for check in checks if check.required]
    report.notes += ["", "checks (issues 2 and 15, 'measured on this 2-core machine'; the "
                     f"{len(checks) - len(required)} informational ones are in the JSON):"]
    report.notes += ["  " + check.line() for check in required]
    print()
    print(report.table(BASELINES, group_by_workload=True))
    report.save(args.json, args.plot, BASELINES)
    failed_checks = sum(1 for check in checks if check.required and check.passed is False)
    return failures + (failed_checks if args.strict else 0)


def measure_all(args: argparse.Namespace, dataset: DataSet, config: VariantConfig,
                workdir: Path, report: Report) -> int:
    families = build_families(dataset, config)
    if args.variants:
        wanted = {name.strip() for name in args.variants.split(",")} | {
            "local", "local mmap", "s3fs", "obstore"}  # the checks' baselines
        unknown = wanted - {f.name for f in families} - {"tierfs", "tierfs-ssd"}
        if unknown:
            raise SystemExit(f"--variants: unknown {sorted(unknown)}; "
                             f"choose from {[f.name for f in families]}")
        families = [f for f in families if f.name in wanted]
    chosen = workloads(dataset)
    if args.workloads:
        names = [name.strip() for name in args.workloads.split(",")]
        unknown = set(names) - {w.name for w in chosen}
        if unknown:
            raise SystemExit(f"--workloads: unknown {sorted(unknown)}; "
                             f"choose from {[w.name for w in chosen]}")
        chosen = [w for w in chosen if w.name in names]
    _describe(report, dataset, families, chosen, args)
    profiles = Profiles(Path(args.profile)) if args.profile else None
    session = Session(dataset, report, workdir / "caches", runs=args.runs,
                      min_time=args.min_time, profiles=profiles)
    plain = [family for family in families if not family.cached]
    cached = [family for family in families if family.cached]
    limits = [family for family in plain if family.limit]
    for workload in chosen:  # the limits' rows first in every workload
        for limit in limits:
            report.add(Measurement(limit.plain, workload.name, workload.nbytes))
    failed: dict[str, Exception] = {}

    def fail(family: Family, error: Exception) -> None:
        traceback.print_exception(error)
        failed[family.name] = error
        report.notes.append(f"FAILED {family.name}: {type(error).__name__}: {error}")

    baselines = [family for family in plain if not family.limit]
    for family in baselines:
        session.measure_plain(family, chosen)
    limit_readers = [limit.make(None) for limit in limits]
    paired = [family.make(None) for family in baselines]
    for reader in paired:
        reader.prime()
    for workload in chosen:
        warm = []
        beside = [(reader, report.find(family.plain, workload.name))
                  for reader, family in zip(paired, baselines, strict=True)]
        for family in cached:
            if family.name in failed:
                continue
            try:
                warm.append(session.prepare_warm(family, workload, beside))
            except Exception as error:  # noqa: BLE001 - report the variant, measure the rest
                fail(family, error)
        local = [report.find(limit.plain, workload.name) for limit in limits]
        for reader in limit_readers:
            session.time_once(reader, workload)  # the page cache (and maps), for the limits
        entries = list(zip(limit_readers, local, strict=True)) + [
            (cache.reader, cache.measurement) for cache in warm]
        broken = {id(m): error for m, error in session.interleave(entries, workload)}
        for cache in warm:
            if id(cache.measurement) in broken:
                fail(cache.family, broken[id(cache.measurement)])
            session.finish_warm(cache)
        for measurement in local:
            log_measurement(measurement)
    for reader in limit_readers:
        verify(reader, dataset)
    for reader in limit_readers + paired:
        reader.close()
    for family in cached:
        if family.name not in failed:
            try:
                session.verify_cached(family)
            except Exception as error:  # noqa: BLE001
                fail(family, error)
    if cached:
        # the baseline again, after the caches: its median spans the whole run's conditions
        # (other work on the machine, the server's own background work)
        for family in baselines:
            session.measure_plain(family, chosen)
    report.measurements = [m for m in report.measurements if m.seconds]
    if profiles is not None:
        for path in profiles.write():
            log(f"profile written to {path} (and .html)")
        report.notes.append("timings taken under a profiler (--profile): expect them lower")
    return len(failed)


def _describe(report: Report, dataset: DataSet, families: list[Family],
              chosen: list[Workload], args: argparse.Namespace) -> None:
    spec = dataset.spec
    legend = {name: text for family in families for name, text in family.descriptions.items()}
    report.meta.update({
        "data_set": {
            "large_files": spec.large_files, "large_size": spec.large_size,
            "small_files": spec.small_files, "small_size": spec.small_size,
            "random_reads": spec.random_reads, "random_size": spec.random_size,
            "read_size": spec.read_size, "seed": spec.seed,
        },
        "caches": {"block_size": args.block_size, "memory_capacity": args.memory_capacity,
                   "ssd_capacity": args.ssd_capacity},
        "runs": args.runs,
        "variants": legend,
        "workloads": {w.name: w.description for w in chosen},
        "tierfs_available": tierfs_available(),
    })
    notes = ["", "variants:"] + [f"  {name:<18} {text}" for name, text in legend.items()]
    notes += ["workloads:"] + [f"  {w.name:<18} {w.description}" for w in chosen]
    notes += [
        "MB/s = bytes delivered / median wall time of the runs; 'x s3fs', 'x obstore', "
        "'x local', 'x local mmap' = throughput ratio to that variant on the same workload, "
        "with the store " + ("behind the remote-store model (below)" if args.remote_model
                             else "on loopback (no remote-store model)") + ".",
        "'tierfs cold' stops when the last byte is returned; 'tierfs cold, in tiers' when "
        "cache_stats() returns after it (deferred tier writes drained): the cold cost in full.",
        f"cold = a new instance over an empty cache directory for each of {args.runs} runs; "
        "warm = runs after one untimed pass of the same workload (local gets one too). Warm "
        "variants and local run in rounds, one run each per round, so load from other work "
        "hits them alike; each repeats until its runs add up to "
        f"{args.min_time:g} s (at least {args.runs} runs). s3fs is measured first, once "
        "right before every cold run, and again last; its runs are pooled. "
        "Every open, metadata request and fetch is timed; only one small unrelated object is "
        "read first, to open connections. Dirty pages are written back (sync) before each "
        "series.",
    ]
    if args.remote_model:
        report.meta["remote_model"] = {"latency_s": args.model_latency / 1e3,
                                       "bytes_per_s": args.model_rate}
        notes.append(f"store reached through the {_model_parameters(args).describe()}")
    if not tierfs_available():
        notes.append("tierfs variants skipped: src/tierfs/fs.py is not in this checkout yet.")
    report.notes += notes


def _counter_notes(report: Report) -> list[str]:
    """tierfs's own counters per run (median): what a cold run fetched, what a warm run hit."""
    lines = []
    for m in report.measurements:
        runs = m.extra.get("stats")
        if not runs:
            continue
        hits, misses, fetched = (
            statistics.median(run[name] for run in runs)
            for name in ("hits", "misses", "under_store_bytes")
        )
        lines.append(
            f"  {m.variant:<16} {m.workload:<12} hits {hits:>6g}  misses {misses:>5g}  "
            f"under store {fetched / 2**20:8.1f} MiB ({fetched / m.nbytes:.2f}x the bytes read)"
        )
    if lines:
        lines.insert(0, "tierfs counters per run (median of cache_stats() deltas):")
    return lines

