"""Peak-RSS check of ``tierfs-bench read --rss``: stream many GiB through a small memory tier.

The reading happens in a child process (``python -m tierfs_bench.read_rss``) so that its
peak resident set is its own; the parent uploads the data and watches the child with psutil.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
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
    """Upload ``args.rss_bytes`` and read it twice through tierfs in a child process.

    Returns 1 if the child failed, or (with ``--strict``) if its peak RSS was over the limit.
    """
    s3 = fsspec.filesystem("s3", skip_instance_cache=True, **storage_options)
    if not s3.exists(args.bucket):
        s3.mkdir(args.bucket)
    paths = _upload(s3, f"{args.bucket}/rss-{os.getpid()}", args.rss_bytes, workdir)
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
    shutil.rmtree(ssd_dir, ignore_errors=True)
    direct = _direct_read_seconds(s3, paths) if child.returncode == 0 else None
    if args.endpoint and not args.keep:
        s3.rm(paths)
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
        print(f"  tierfs {phase['name']:<5} {phase['bytes'] / 2**30:.2f} GiB in "
              f"{phase['seconds']:.1f} s = {phase['bytes'] / 1e6 / phase['seconds']:,.1f} MB/s, "
              f"peak RSS so far {phase['peak_rss'] / mib:,.0f} MiB, "
              f"under store +{phase['under_store_bytes']:,} B")
    print(f"  direct s3fs  {args.rss_bytes / 2**30:.2f} GiB in {direct:.1f} s = "
          f"{args.rss_bytes / 1e6 / direct:,.1f} MB/s (same reads, parent process, for scale)")
    print(f"  RSS after imports and set-up: {result['baseline_rss'] / mib:,.0f} MiB; "
          f"peak (VmHWM {result['peak_rss'] / mib:,.0f}, psutil samples {polled_peak / mib:,.0f}) "
          f"MiB; limit {limit / mib:,.0f} MiB (memory tier "
          f"{args.rss_memory_capacity / mib:,.0f} + 300): {'PASS' if passed else 'FAIL'}")
    if args.json:
        target = Path(args.json)
        payload = json.loads(target.read_text()) if target.exists() else {"scenario": "read"}
        payload["rss"] = result | {"polled_peak_rss": polled_peak, "limit": limit,
                                   "passed": passed, "direct_s3fs_seconds": direct}
        target.write_text(json.dumps(payload, indent=2))
    return 0 if passed or not args.strict else 1


def _direct_read_seconds(s3, paths: list[str]) -> float:
    view = memoryview(bytearray(4 * 2**20))
    started = time.perf_counter()
    for path in paths:
        with s3.open(path, "rb") as f:
            while f.readinto(view):
                pass
    return time.perf_counter() - started


def _upload(s3, prefix: str, total: int, workdir: Path) -> list[str]:
    """``total`` bytes as objects of 256 MiB (the last shorter), uploaded by one batched put.

    Every full object has the same bytes (one local file): tierfs keys blocks by path and
    version, so this changes nothing for the cache and keeps the parent small.
    """
    sizes = [_OBJECT_SIZE] * (total // _OBJECT_SIZE)
    if total % _OBJECT_SIZE:
        sizes.append(total % _OBJECT_SIZE)
    sources = {}
    for size in set(sizes):
        source = workdir / f"rss-source-{size}.bin"
        with open(source, "wb") as f:
            for _ in range(0, size, 2**20):
                f.write(os.urandom(min(2**20, size - f.tell())))
        sources[size] = str(source)
    paths = [f"{prefix}/{i:04d}.bin" for i in range(len(sizes))]
    started = time.perf_counter()
    s3.put([sources[size] for size in sizes], paths)
    for source in sources.values():
        os.unlink(source)
    print(f"uploaded {total / 2**30:.1f} GiB in {time.perf_counter() - started:.1f} s",
          file=sys.stderr, flush=True)
    return paths


class _poll_peak_rss:
    """Samples a process's RSS every 5 ms in a thread until it exits (a cross-check)."""

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
            time.sleep(0.005)

    def join_peak(self) -> int:
        self._thread.join(5)
        return self.peak


def _peak_rss() -> int:
    """This process's peak RSS: ``VmHWM`` of its own address space.

    Not ``getrusage().ru_maxrss``: Linux carries that across ``execve``, so a child started
    by a large parent reports the parent's size at fork time.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


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
    fs.info(config["paths"][0])  # the S3 client exists and is connected before the baseline
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
