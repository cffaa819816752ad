"""``tierfs-bench daemon``: many client processes reading warm data, with and without the daemon.

Every variant runs the same job: N spawned processes, each making R random reads of
64 KiB at seeded offsets of one warm file, all released by one barrier. Compared:
(a) each process's own in-process cache over one shared, warm SSD tier directory (the
Foundation cache), (b) the node's daemon with short-circuit reads of its tier files,
(c) the daemon over HTTP only. Reported: aggregate MB/s (ratios to (a)), p50/p99 latency
of single reads, and errors, which must be zero.
"""

from __future__ import annotations

import argparse
import multiprocessing
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
MiB = 2**20


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("daemon", help="concurrent clients: daemon vs in-process cache",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--reads", type=int, default=1000, help="reads per client")
    parser.add_argument("--read-size", type=size_arg,
                        default=64 * 2**10)
    parser.add_argument("--file-size", type=size_arg,
                        default=256 * MiB)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--plot", metavar="DIR")
    parser.set_defaults(run=run)


def _client(options: dict, path: str, reads: int, size: int, file_size: int, seed: int,
            barrier, results) -> None:
    """One client process: build its filesystem, wait for the start, time every read."""
    fs = fsspec.filesystem("tierfs", skip_instance_cache=True, **options)
    rng = random.Random(seed)
    offsets = [rng.randrange(file_size - size) for _ in range(reads)]
    latencies, errors = [], 0
    with fs.open(path, "rb") as file:
        file.seek(offsets[0])
        file.read(size)  # opens connections and handles before the clock starts
        barrier.wait()
        started = time.time()
        for offset in offsets:
            begin = time.perf_counter()
            try:
                file.seek(offset)
                errors += len(file.read(size)) != size
            except Exception:  # noqa: BLE001 - counted and reported, never hidden
                errors += 1
            latencies.append(time.perf_counter() - begin)
        ended = time.time()
    results.put((started, ended, latencies, errors))


def _run_clients(options: dict, path: str, args: argparse.Namespace, run: int
                 ) -> tuple[float, list[float], int]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(args.clients)
    results = context.Queue()
    workers = [
        context.Process(target=_client, args=(options, path, args.reads, args.read_size,
                                              args.file_size, 1000 * run + i, barrier, results))
        for i in range(args.clients)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join(60)
    wall = max(o[1] for o in outcomes) - min(o[0] for o in outcomes)
    return wall, [lat for o in outcomes for lat in o[2]], sum(o[3] for o in outcomes)


def run(args: argparse.Namespace) -> int:
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tierfs-bench-")))
        server = stack.enter_context(EmbeddedS3(workdir / "s3"))
        server.create_bucket("bench")
        target = {"target_protocol": "s3", "target_options": server.storage_options()}
        s3 = fsspec.filesystem("s3", **server.storage_options())
        path = "bench/warm.bin"
        with s3.open(path, "wb", block_size=64 * MiB) as file:
            for i in range(args.file_size // MiB):
                file.write(bytes([i % 256]) * MiB)
        daemon = _start_daemon(server, workdir)
        stack.callback(daemon.stop)
        variants = {
            BASELINE: target | {"tiers": [{"medium": "ssd", "path": str(workdir / "inproc"),
                                           "capacity": "8GiB"}]},
            "daemon short-circuit": target | {"daemon": daemon.url},
            "daemon http": target | {"daemon": daemon.url, "short_circuit": False},
        }
        for options in variants.values():  # warm every cache with one full read
            fsspec.filesystem("tierfs", skip_instance_cache=True, **options).cat_file(path)
        report = Report("daemon")
        workload = f"{args.clients} clients x {args.reads} random {args.read_size // 1024} KiB"
        total = args.clients * args.reads * args.read_size
        errors = 0
        for run_index in range(args.runs):
            for variant, options in variants.items():
                wall, latencies, failed = _run_clients(options, path, args, run_index)
                errors += failed
                measurement = report.find(variant, workload) or report.add(
                    Measurement(variant, workload, total, extra={"p50_ms": [], "p99_ms": []}))
                measurement.seconds.append(wall)
                quantiles = statistics.quantiles(latencies, n=100)
                measurement.extra["p50_ms"].append(1000 * quantiles[49])
                measurement.extra["p99_ms"].append(1000 * quantiles[98])
        for m in report.measurements:
            m.extra["p50_ms"] = statistics.median(m.extra["p50_ms"])
            m.extra["p99_ms"] = statistics.median(m.extra["p99_ms"])
            report.notes.append(f"{m.variant}: p50 {m.extra['p50_ms']:.3f} ms, "
                                f"p99 {m.extra['p99_ms']:.3f} ms")
        report.notes.append(f"errors: {errors}; daemon under-store bytes: "
                            f"{daemon.stats()['under_store_bytes']} (file {args.file_size})")
        print(report.table([BASELINE]))
        if args.json:
            report.to_json(args.json, [BASELINE])
        if args.plot:
            report.plot(args.plot)
    return 1 if errors else 0


def _start_daemon(server: EmbeddedS3, workdir: Path) -> DaemonProcess:
    port = free_ports(1)[0]
    config = workdir / "daemon.toml"
    config.write_text(render_config({
        "server": {"host": "127.0.0.1", "port": port},
        "cache": {"tiers": [{"medium": "memory", "capacity": "1GiB"},
                            {"medium": "ssd", "path": str(workdir / "daemon-ssd"),
                             "capacity": "8GiB"}]},
        "mounts": {"bench": {"url": "s3://bench", "options": server.storage_options()}},
    }))
    return DaemonProcess(config, f"http://127.0.0.1:{port}").start()
