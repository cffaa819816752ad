"""Client processes of ``tierfs-bench daemon``: timed reads of one warm file, each checked.

Clients start together (one barrier), time every read, compare its bytes with a local
reference copy of the file, and report what their own filesystem fetched from the store.
"""

from __future__ import annotations

import mmap
import multiprocessing
import os
import random
import time
from dataclasses import dataclass

import fsspec

MiB = 2**20


@dataclass(frozen=True)
class Job:
    kind: str  # "random" or "sequential"
    reads: int | None  # random reads per client (sequential: the whole file)
    size: int
    file_size: int

    @property
    def nbytes(self) -> int:
        return self.reads * self.size if self.kind == "random" else self.file_size

    def offsets(self, seed: int) -> list[int]:
        if self.kind == "random":
            rng = random.Random(seed)
            return [rng.randrange(self.file_size - self.size) for _ in range(self.reads)]
        return list(range(0, self.file_size, self.size))


@dataclass
class ClientResult:
    started: float
    ended: float
    latencies: list[float]
    errors: int  # reads that raised or came back short
    wrong: int  # reads whose bytes differ from the reference
    under_store_bytes: int  # fetched by this client's own filesystem during its reads
    fetched_to_open: int = 0  # and before them: opening the file, one read to open connections


def _drop_to(uid: int, options: dict, path: str) -> None:
    """Become ``uid`` in a forked client, after loading what its reads need as root
    (modules, the s3 client, which reads its models from root's site-packages)."""
    target = fsspec.filesystem(options["target_protocol"], **options["target_options"])
    target.info(path)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def _client(options: dict, path: str, reference: str, job: Job, seed: int,
            run_as: int | None, barrier, results) -> None:
    """One client process; a client that fails breaks the barrier and reports one error."""
    try:
        results.put(_timed_reads(options, path, reference, job, seed, run_as, barrier))
    except BaseException:  # noqa: BLE001 - counted and reported as an error, never hidden
        barrier.abort()
        results.put(ClientResult(time.time(), time.time(), [], 1, 0, 0))


def _fetched(fs) -> int:
    return fs.cache_stats().get("under_store_bytes", 0)


def _timed_reads(options: dict, path: str, reference: str, job: Job, seed: int,
                 run_as: int | None, barrier) -> ClientResult:
    with open(reference, "rb") as ref_file:
        expected = mmap.mmap(ref_file.fileno(), 0, prot=mmap.PROT_READ)
    if run_as is not None:
        _drop_to(run_as, options, path)
    fs = fsspec.filesystem("tierfs", skip_instance_cache=True, **options)
    offsets = job.offsets(seed)
    latencies, errors, wrong = [], 0, 0
    with fs.open(path, "rb") as file:
        file.seek(offsets[-1])
        file.read(job.size)  # opens connections and handles before the clock starts
        fetched_before = _fetched(fs)
        barrier.wait()
        started = time.time()
        for offset in offsets:
            begin = time.perf_counter()
            try:
                file.seek(offset)
                data = file.read(job.size)
            except Exception:  # noqa: BLE001 - counted and reported, never hidden
                errors += 1
                data = None
            latencies.append(time.perf_counter() - begin)
            if data is not None:
                want = expected[offset:offset + job.size]
                errors += len(data) != len(want)
                wrong += data != want
        ended = time.time()
    return ClientResult(started, ended, latencies, errors, wrong, _fetched(fs) - fetched_before,
                        fetched_before)


def run_clients(options: dict, path: str, reference: str, clients: int, job: Job,
                seed: int, run_as: int | None, start_method: str = "spawn",
                ) -> tuple[float, list[ClientResult]]:
    """Wall time from the first client's start to the last one's end, and every result.
    ``start_method``: "forkserver" starts clients faster once its server imported tierfs."""
    # forked clients can drop to another user: the venv's Python may not be theirs to start
    context = multiprocessing.get_context("fork" if run_as is not None else start_method)
    if start_method == "forkserver":
        context.set_forkserver_preload(["tierfs_bench.daemon_clients", "tierfs.fs", "s3fs"])
    barrier = context.Barrier(clients)
    results = context.Queue()
    workers = [
        context.Process(target=_client, args=(options, path, reference, job, seed + i, run_as,
                                              barrier, results))
        for i in range(clients)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join(60)
    wall = max(o.ended for o in outcomes) - min(o.started for o in outcomes)
    return wall, outcomes
