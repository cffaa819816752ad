"""``tierfs-bench daemon``: client processes reading warm data, with and without the daemon.

Every variant runs the same jobs with 1 and with N client processes at once, released by
one barrier: R random reads of 64 KiB at seeded offsets of one warm file, and one
sequential pass over it in 4 MiB reads. Compared: (a) each process's own in-process
cache over one shared, warm SSD tier directory, (b) the node's daemon with short-circuit
reads of its tier files (same UID), (c) clients of another UID (``nobody``) that cannot
open the tier directory and read descriptors the daemon passes them, (d) the daemon over
HTTP only (TCP). Every cache is filled the same way, by one full read. Reported:
aggregate MB/s (ratios to (a)), p50/p99 latency of single reads, and errors, which must
be zero.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import fsspec

from tierfs.embedded import EmbeddedS3, free_ports
from tierfs_bench.cli import size_arg
from tierfs_bench.report import Measurement, Report
from tierfs_server.launcher import DaemonProcess, render_config

BASELINE = "in-process"
OTHER_UID = "daemon descriptors (uid nobody)"
NOBODY = 65534
MiB = 2**20
SEQUENTIAL_READ = 4 * MiB


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("daemon", help="concurrent clients: daemon vs in-process cache",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,16",
                        help="comma-separated numbers of concurrent client processes")
    parser.add_argument("--reads", type=int, default=1000, help="random reads per client")
    parser.add_argument("--read-size", type=size_arg, default=64 * 2**10)
    parser.add_argument("--file-size", type=size_arg, default=256 * MiB)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--plot", metavar="DIR")
    parser.set_defaults(run=run)


def _drop_to(uid: int, options: dict, path: str) -> None:
    """Become ``uid`` in a forked client, after loading what its reads need as root
    (modules, the s3 client, which reads its models from root's site-packages)."""
    target = fsspec.filesystem(options["target_protocol"], **options["target_options"])
    target.info(path)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def _client(options: dict, path: str, job: tuple, seed: int, run_as: int | None,
            barrier, results) -> None:
    """One client process: build its filesystem, wait for the start, time every read.
    A client that fails breaks the barrier and reports one error, so none waits."""
    try:
        results.put(_timed_reads(options, path, job, seed, run_as, barrier))
    except BaseException:  # noqa: BLE001 - counted and reported as an error, never hidden
        barrier.abort()
        results.put((time.time(), time.time(), [], 1))


def _timed_reads(options: dict, path: str, job: tuple, seed: int, run_as: int | None,
                 barrier) -> tuple[float, float, list[float], int]:
    if run_as is not None:
        _drop_to(run_as, options, path)
    fs = fsspec.filesystem("tierfs", skip_instance_cache=True, **options)
    kind, reads, size, file_size = job
    if kind == "random":
        rng = random.Random(seed)
        offsets = [rng.randrange(file_size - size) for _ in range(reads)]
    else:
        offsets = list(range(0, file_size, size))
    latencies, errors = [], 0
    with fs.open(path, "rb") as file:
        file.seek(offsets[-1])
        file.read(size)  # opens connections and handles before the clock starts
        barrier.wait()
        started = time.time()
        for offset in offsets:
            begin = time.perf_counter()
            try:
                file.seek(offset)
                errors += len(file.read(size)) != min(size, file_size - offset)
            except Exception:  # noqa: BLE001 - counted and reported, never hidden
                errors += 1
            latencies.append(time.perf_counter() - begin)
        ended = time.time()
    return started, ended, latencies, errors


def _run_clients(options: dict, path: str, clients: int, job: tuple, run: int,
                 run_as: int | None) -> tuple[float, list[float], int]:
    # forked clients can drop to another user: the venv's Python may not be theirs to start
    context = multiprocessing.get_context("fork" if run_as is not None else "spawn")
    barrier = context.Barrier(clients)
    results = context.Queue()
    workers = [
        context.Process(target=_client, args=(options, path, job, 1000 * run + i, run_as,
                                              barrier, results))
        for i in range(clients)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join(60)
    wall = max(o[1] for o in outcomes) - min(o[0] for o in outcomes)
    return wall, [lat for o in outcomes for lat in o[2]], sum(o[3] for o in outcomes)


def _jobs(args: argparse.Namespace) -> dict[str, tuple]:
    return {
        f"random {args.read_size // 1024} KiB x {args.reads}":
            ("random", args.reads, args.read_size, args.file_size),
        f"sequential {SEQUENTIAL_READ // MiB} MiB reads":
            ("sequential", None, SEQUENTIAL_READ, args.file_size),
    }


def run(args: argparse.Namespace) -> int:
    client_counts = [int(n) for n in str(args.clients).split(",")]
    can_switch_user = os.geteuid() == 0
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tierfs-bench-")))
        sockets = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tierfs-sock-")))
        sockets.chmod(0o755)  # clients of another UID reach the sockets, not the tiers
        server = stack.enter_context(EmbeddedS3(workdir / "s3"))
        server.create_bucket("bench")
        target = {"target_protocol": "s3", "target_options": server.storage_options()}
        s3 = fsspec.filesystem("s3", **server.storage_options())
        path = "bench/warm.bin"
        with s3.open(path, "wb", block_size=64 * MiB) as file:
            for i in range(args.file_size // MiB):
                file.write(bytes([i % 256]) * MiB)
        daemon = _start_daemon(server, workdir, sockets)
        stack.callback(daemon.stop)
        variants = {
            BASELINE: (target | {"tiers": [{"medium": "ssd", "path": str(workdir / "inproc"),
                                            "capacity": "8GiB"}]}, None),
            "daemon short-circuit": (target | {"daemon": daemon.url}, None),
            "daemon http": (target | {"daemon": daemon.url, "short_circuit": False}, None),
        }
        if can_switch_user:
            variants[OTHER_UID] = (target | {"daemon": str(sockets / "daemon.sock")}, NOBODY)
        for options, _ in variants.values():  # warm every cache with one full read
            fsspec.filesystem("tierfs", skip_instance_cache=True, **options).cat_file(path)
        report = Report("daemon")
        if not can_switch_user:
            report.notes.append(f"{OTHER_UID}: skipped, switching users needs root")
        errors = 0
        for run_index in range(args.runs):
            for clients in client_counts:
                for job_name, job in _jobs(args).items():
                    for variant, (options, run_as) in variants.items():
                        wall, latencies, failed = _run_clients(options, path, clients, job,
                                                               run_index, run_as)
                        errors += failed
                        _record(report, variant, f"{clients} x {job_name}",
                                clients * _job_bytes(job), wall, latencies)
        for m in report.measurements:
            m.extra["p50_ms"] = statistics.median(m.extra["p50_ms"])
            m.extra["p99_ms"] = statistics.median(m.extra["p99_ms"])
            report.notes.append(f"{m.variant}, {m.workload}: p50 {m.extra['p50_ms']:.3f} ms, "
                                f"p99 {m.extra['p99_ms']:.3f} ms")
        stats = daemon.stats()
        report.notes.append(f"errors: {errors}; daemon under-store bytes: "
                            f"{stats['under_store_bytes']} (file {args.file_size}); "
                            f"descriptors passed: {stats['descriptors']['descriptors']}")
        print(report.table([BASELINE], group_by_workload=True))
        if args.json:
            report.to_json(args.json, [BASELINE])
        if args.plot:
            report.plot(args.plot)
    return 1 if errors else 0


def _job_bytes(job: tuple) -> int:
    kind, reads, size, file_size = job
    return reads * size if kind == "random" else file_size


def _record(report: Report, variant: str, workload: str, nbytes: int, wall: float,
            latencies: list[float]) -> None:
    measurement = report.find(variant, workload) or report.add(
        Measurement(variant, workload, nbytes, extra={"p50_ms": [], "p99_ms": []}))
    measurement.seconds.append(wall)
    quantiles = (statistics.quantiles(latencies, n=100) if len(latencies) > 1
                 else [latencies[0] if latencies else float("nan")] * 99)
    measurement.extra["p50_ms"].append(1000 * quantiles[49])
    measurement.extra["p99_ms"].append(1000 * quantiles[98])


def _start_daemon(server: EmbeddedS3, workdir: Path, sockets: Path) -> DaemonProcess:
    port = free_ports(1)[0]
    config = workdir / "daemon.toml"
    config.write_text(render_config({
        "server": {"host": "127.0.0.1", "port": port,
                   "unix_socket": str(sockets / "daemon.sock"),
                   "fd_socket": str(sockets / "fd.sock")},
        "cache": {"tiers": [{"medium": "memory", "capacity": "1GiB"},
                            {"medium": "ssd", "path": str(workdir / "daemon-ssd"),
                             "capacity": "8GiB"}]},
        "mounts": {"bench": {"url": "s3://bench", "options": server.storage_options()}},
    }))
    return DaemonProcess(config, f"http://127.0.0.1:{port}").start()
