"""Peak-RSS check of ``tierfs-bench read --rss``: stream many GiB through a small memory tier.

The reading happens in a child process (``python -m tierfs_bench.read_rss``) so that its
peak resident set is its own; the parent uploads the data and watches the child with psutil.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import fsspec
import psutil

_OBJECT_SIZE = 256 * 2**20
_HEADROOM = 300 * 2**20  # issue 2: peak RSS < memory tier capacity + 300 MiB


def run_rss_check(args: argparse.Namespace, storage_options: dict, workdir: Path) -> int:
    """Upload ``args.rss_bytes``, read it twice through tierfs in a child; 1 if over the limit."""
    s3 = fsspec.filesystem("s3", skip_instance_cache=True, **storage_options)
    if not s3.exists(args.bucket):
        s3.mkdir(args.bucket)
    paths = _upload(s3, f"{args.bucket}/rss-{os.getpid()}", args.rss_bytes)
    ssd_dir = Path(tempfile.mkdtemp(prefix="rss-ssd-", dir=workdir))
    config = {
        "storage_options": storage_options, "paths": paths,
        "memory_capacity": args.rss_memory_capacity,
        "ssd_capacity": max(args.ssd_capacity, args.rss_bytes + _OBJECT_SIZE),
        "ssd_dir": str(ssd_dir), "block_size": args.block_size, "read_size": 4 * 2**20,
    }
    config_path = workdir / "rss-config.json"
    config_path.write_text(json.dumps(config))
    print(f"reading {args.rss_bytes / 2**30:.1f} GiB twice (cold, then from the SSD tier) in "
          f"a child process, memory tier {args.rss_memory_capacity / 2**20:.0f} MiB ...",
          file=sys.stderr, flush=True)
    child = subprocess.Popen(
        [sys.executable, "-m", "tierfs_bench.read_rss", str(config_path)],
        stdout=subprocess.PIPE, text=True,
    )
    polled = _poll_peak_rss(child.pid)
    out, _ = child.communicate()
    polled_peak = polled.join_peak()
    try:
        if args.endpoint and not args.keep:
            s3.rm(paths)
    finally:
        import shutil

        shutil.rmtree(ssd_dir, ignore_errors=True)
    if child.returncode != 0:
        print(f"RSS check: the child failed with code {child.returncode}")
        return 1
    result = json.loads(out.strip().splitlines()[-1])
    limit = args.rss_memory_capacity + _HEADROOM
    peak = max(result["peak_rss"], polled_peak)
    passed = peak < limit
    mib = 2**20
    print()
    print("== read: peak RSS ==")
    for phase in result["phases"]:
        print(f"  {phase['name']:<6} {phase['bytes'] / 2**30:.2f} GiB in {phase['seconds']:.1f} s"
              f" = {phase['bytes'] / 1e6 / phase['seconds']:,.1f} MB/s, peak RSS so far "
              f"{phase['peak_rss'] / mib:,.0f} MiB, under store +{phase['under_store_bytes']:,} B")
    print(f"  RSS after imports and set-up: {result['baseline_rss'] / mib:,.0f} MiB; "
          f"peak (getrusage {result['peak_rss'] / mib:,.0f}, psutil {polled_peak / mib:,.0f}) "
          f"MiB; limit {limit / mib:,.0f} MiB (memory tier "
          f"{args.rss_memory_capacity / mib:,.0f} + 300): {'PASS' if passed else 'FAIL'}")
    if args.json:
        target = Path(args.json)
        payload = json.loads(target.read_text()) if target.exists() else {"scenario": "read"}
        payload["rss"] = result | {"polled_peak_rss": polled_peak, "limit": limit,
                                   "passed": passed}
        target.write_text(json.dumps(payload, indent=2))
    return 0 if passed else 1


def _upload(s3, prefix: str, total: int) -> list[str]:
    """``total`` bytes as objects of 256 MiB (the last shorter), two uploads at a time."""
    chunk = os.urandom(_OBJECT_SIZE)
    sizes = [_OBJECT_SIZE] * (total // _OBJECT_SIZE)
    if total % _OBJECT_SIZE:
        sizes.append(total % _OBJECT_SIZE)
    paths = [f"{prefix}/{i:04d}.bin" for i in range(len(sizes))]
    started = time.perf_counter()
    for start in range(0, len(paths), 2):
        batch = {
            path: i.to_bytes(8, "little") + chunk[8:size]
            for i, (path, size) in enumerate(zip(paths, sizes, strict=True))
            if start <= i < start + 2
        }
        s3.pipe(batch)
    print(f"uploaded {total / 2**30:.1f} GiB in {time.perf_counter() - started:.1f} s",
          file=sys.stderr, flush=True)
    return paths


class _poll_peak_rss:
    """Samples a process's RSS every 20 ms in a thread until it exits."""

    def __init__(self, pid: int):
        self.peak = 0
        self._process = psutil.Process(pid)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                self.peak = max(self.peak, self._process.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.02)

    def join_peak(self) -> int:
        self._thread.join(5)
        return self.peak


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _child(config_path: str) -> None:
    config = json.loads(Path(config_path).read_text())
    fs = fsspec.filesystem(
        "tierfs", target_protocol="s3", target_options=config["storage_options"],
        tiers=[
            {"medium": "memory", "capacity": config["memory_capacity"]},
            {"medium": "ssd", "path": config["ssd_dir"], "capacity": config["ssd_capacity"]},
        ],
        block_size=config["block_size"], skip_instance_cache=True,
    )
    baseline = psutil.Process().memory_info().rss
    view = memoryview(bytearray(config["read_size"]))
    phases = []
    for name in ("cold", "warm"):
        before = fs.cache_stats()["under_store_bytes"]
        started = time.perf_counter()
        total = 0
        for path in config["paths"]:
            with fs.open(path, "rb") as f:
                while n := f.readinto(view):
                    total += n
        phases.append({
            "name": name, "bytes": total, "seconds": time.perf_counter() - started,
            "peak_rss": _peak_rss(),
            "under_store_bytes": fs.cache_stats()["under_store_bytes"] - before,
        })
    stats = fs.cache_stats()
    print(json.dumps({"baseline_rss": baseline, "peak_rss": _peak_rss(), "phases": phases,
                      "cache_stats": stats}))


if __name__ == "__main__":
    _child(sys.argv[1])
