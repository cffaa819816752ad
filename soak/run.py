"""``make soak``: the daemon under 16 clients with restarts, then a write-back writer in a
SIGKILL loop; prints the figures and saves them to ``build/reliability/soak.json``.

Phase 1 runs ``SOAK_SECONDS`` (default 600) of random ranged reads (every byte checked)
and writes through the daemon's write-back buffer, SIGKILLing and restarting the daemon
every ``--restart-every`` seconds. Phase 2 kills a write-back writer ``--writer-rounds``
times (default 100), 0.5-1.5 s into each life. Both end by checking that every
acknowledged byte is in the store, exact.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import fsspec

from soak.payloads import payload
from soak.pool import ClientPool, merge, percentile
from soak.records import FaultRecord
from tierfs.embedded import EmbeddedS3, free_ports
from tierfs.writeback import WriteBackBuffer
from tierfs_server.launcher import DaemonProcess, render_config

KiB = 1024
BUCKET = "soak"


def start_daemon(directory: Path, store: EmbeddedS3) -> DaemonProcess:
    port = free_ports(1)[0]
    config = directory / "daemon.toml"
    config.write_text(render_config({
        "server": {"host": "127.0.0.1", "port": port},
        "cache": {"block_size": "256KiB", "tiers": [  # smaller than the data: misses go on
            {"medium": "memory", "capacity": "4MiB"},
            {"medium": "ssd", "path": str(directory / "ssd"), "capacity": "8MiB"}]},
        "mounts": {"soak": {"url": f"s3://{BUCKET}", "options": store.storage_options()}},
        "writeback": {"dir": str(directory / "wb"), "capacity": "256MiB"},
    }))
    return DaemonProcess(config, f"http://127.0.0.1:{port}").start()


def check_present(store_fs, acknowledged: dict[str, int]) -> tuple[int, int]:
    """(present bytes, lost bytes) of ``acknowledged`` {path: size} in the store."""
    present = lost = 0
    for path, size in acknowledged.items():
        try:
            exact = store_fs.cat_file(path) == payload(path, size)
        except FileNotFoundError:
            exact = False
        present, lost = (present + size, lost) if exact else (present, lost + size)
    return present, lost


def daemon_phase(store: EmbeddedS3, directory: Path, seconds: float, clients: int,
                 restart_every: float) -> dict:
    s3 = fsspec.filesystem("s3", skip_instance_cache=True, use_listings_cache=False,
                           **store.storage_options())
    objects = {f"{BUCKET}/data/o{i:02d}": 768 * KiB + i for i in range(24)}
    s3.pipe({path: payload(path, size) for path, size in objects.items()})
    daemon = start_daemon(directory, store)
    pool = ClientPool(clients, {"storage_options": store.storage_options(), "daemon": daemon.url,
                                "objects": objects, "write_root": f"{BUCKET}/writes",
                                "write_every": 10}, directory / "pool")
    restarts = 0
    try:
        pool.start()
        deadline = time.monotonic() + seconds
        while time.monotonic() + restart_every < deadline:
            time.sleep(restart_every)
            daemon.kill()
            daemon.start()
            restarts += 1
            print(f"  daemon restart {restarts} ({deadline - time.monotonic():.0f} s left)",
                  flush=True)
        pool.mark()  # after the last restart: every client must resume
        time.sleep(max(0.0, deadline - time.monotonic()))
        merged = merge(pool.stop())
        flusher = fsspec.filesystem("tierfs", target_protocol="s3", daemon=daemon.url,
                                    target_options=store.storage_options(),
                                    write_mode="back", skip_instance_cache=True)
        flushed = flusher.wait_flushed(300)
    finally:
        pool.kill()
        daemon.stop()
    present, lost = check_present(s3, merged["acknowledged"])
    counts = merged["counts"]
    return {"seconds": seconds, "clients": clients, "daemon_restarts": restarts,
            "requests": counts["reads"] + counts["writes"] + sum(merged["errors"].values()),
            "reads": counts["reads"], "writes": counts["writes"],
            "errors": sum(merged["errors"].values()), "errors_by_type": dict(merged["errors"]),
            "unclean_errors": merged["unclean"][:10], "dead_clients": merged["dead_clients"],
            "resumed_clients": merged["resumed_clients"],
            "p50_ms": percentile(merged["latencies_ms"], 0.50),
            "p99_ms": percentile(merged["latencies_ms"], 0.99),
            "bytes_verified": counts["bytes_verified"], "wrong_bytes": counts["wrong_bytes"],
            "acknowledged_bytes": sum(merged["acknowledged"].values()),
            "present_bytes": present, "lost_bytes": lost, "flushed": flushed}


def writer_round(store: EmbeddedS3, buffer_dir: Path, number: int, lifetime: float) -> list[str]:
    writer = subprocess.Popen(
        [sys.executable, "-m", "soak.crash_writer", str(buffer_dir), f"{BUCKET}/crash",
         str(number)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[1])
    writer.stdin.write(json.dumps(store.storage_options()))
    writer.stdin.close()
    writer.stdin = None
    try:
        if writer.stdout.readline().strip() == "ready":
            time.sleep(lifetime)
    finally:
        writer.kill()
        writer.wait()
    return writer.stdout.read().split()


def writer_phase(store: EmbeddedS3, directory: Path, rounds: int) -> dict:
    rng = random.Random(16)
    buffer_dir = directory / "crash-buffer"
    acknowledged: dict[str, int] = {}
    acknowledging_rounds = 0
    started = time.monotonic()
    for number in range(rounds):
        names = writer_round(store, buffer_dir, number, rng.uniform(0.5, 1.5))
        acknowledging_rounds += bool(names)
        acknowledged.update(dict.fromkeys(names, 256 * KiB))
        if (number + 1) % 10 == 0:
            print(f"  writer round {number + 1}/{rounds}: {len(acknowledged)} files "
                  "acknowledged", flush=True)
    s3 = fsspec.filesystem("s3", skip_instance_cache=True, use_listings_cache=False,
                           **store.storage_options())
    with WriteBackBuffer(buffer_dir, "64MiB", s3) as buffer:  # the pod's next life
        flushed = buffer.wait_flushed(300)
    present, lost = check_present(s3, acknowledged)
    return {"rounds": rounds, "acknowledging_rounds": acknowledging_rounds,
            "seconds": round(time.monotonic() - started, 1),
            "acknowledged_bytes": sum(acknowledged.values()), "present_bytes": present,
            "lost_bytes": lost, "flushed": flushed}


def print_figures(daemon: dict, writer: dict) -> None:
    rows = [
        ("daemon phase", f"{daemon['seconds']:.0f} s, {daemon['clients']} clients, "
                         f"{daemon['daemon_restarts']} SIGKILL restarts"),
        ("requests", f"{daemon['requests']} ({daemon['reads']} reads, {daemon['writes']} writes)"),
        ("errors", f"{daemon['errors']} {daemon['errors_by_type']}, "
                   f"unclean {len(daemon['unclean_errors'])}"),
        ("latency", f"p50 {daemon['p50_ms']} ms, p99 {daemon['p99_ms']} ms"),
        ("bytes verified / wrong", f"{daemon['bytes_verified']} / {daemon['wrong_bytes']}"),
        ("clients resumed", f"{daemon['resumed_clients']} of {daemon['clients']}"),
        ("daemon writes: ack / present / lost",
         f"{daemon['acknowledged_bytes']} / {daemon['present_bytes']} / {daemon['lost_bytes']}"),
        ("writer SIGKILL rounds", f"{writer['rounds']} ({writer['acknowledging_rounds']} "
                                  f"acknowledged writes, {writer['seconds']} s)"),
        ("writer: ack / present / lost",
         f"{writer['acknowledged_bytes']} / {writer['present_bytes']} / {writer['lost_bytes']}"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m soak.run", description=__doc__)
    parser.add_argument("--seconds", type=float,
                        default=float(os.environ.get("SOAK_SECONDS", 600)))
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--restart-every", type=float, default=30.0)
    parser.add_argument("--writer-rounds", type=int,
                        default=int(os.environ.get("SOAK_WRITER_ROUNDS", 100)))
    args = parser.parse_args(argv)
    for name in ("seconds", "clients", "restart_every", "writer_rounds"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')}: must be positive")
    record = FaultRecord(name="soak", fault=(
        f"soak: daemon SIGKILLed every {args.restart_every:.0f} s under {args.clients} clients "
        f"for {args.seconds:.0f} s; write-back writer SIGKILLed {args.writer_rounds} times"))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tierfs-soak-") as scratch, \
            EmbeddedS3(Path(scratch) / "weed") as store:
        store.create_bucket(BUCKET)
        print(f"soak: phase 1, the daemon under load for {args.seconds:.0f} s", flush=True)
        daemon = daemon_phase(store, Path(scratch), args.seconds, args.clients,
                              args.restart_every)
        print(f"soak: phase 2, {args.writer_rounds} SIGKILL rounds of a writer", flush=True)
        writer = writer_phase(store, Path(scratch), args.writer_rounds)
    print_figures(daemon, writer)
    record.injections = daemon["daemon_restarts"] + args.writer_rounds
    record.operations = daemon["requests"]
    record.bytes_verified = daemon["bytes_verified"] + writer["present_bytes"]
    record.acknowledged_bytes = daemon["acknowledged_bytes"] + writer["acknowledged_bytes"]
    record.lost_bytes = daemon["lost_bytes"] + writer["lost_bytes"]
    record.wrong_bytes = daemon["wrong_bytes"]
    record.clean_errors = daemon["errors"]
    record.extra = {"daemon": daemon, "writer": writer}
    passed = (record.lost_bytes == 0 and record.wrong_bytes == 0 and daemon["flushed"]
              and writer["flushed"] and not daemon["unclean_errors"]
              and daemon["dead_clients"] == 0
              and daemon["resumed_clients"] == args.clients)
    record.outcome = "passed" if passed else "failed"
    record.seconds = round(time.monotonic() - started, 1)
    print(f"soak: {record.outcome}; figures in {record.save()}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
