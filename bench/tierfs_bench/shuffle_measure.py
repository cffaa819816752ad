"""One timed sort of ``tierfs-bench shuffle``: wall time, the workers' peak RSS, disk writes
and CPU time, and the CPU time of the process serving the shuffle (the store, the daemon).

The timed job generates the records in the workers, sorts them through a mode and
summarises each output partition there (count, checksum, first and last key); only the
summaries come back. The shuffle's stored size is read before it is deleted.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass

import dask
import dask.dataframe as dd
import psutil

from tierfs_bench.shuffle_data import Summary, problems, summarize
from tierfs_bench.shuffle_modes import Mode

_SAMPLE_SECONDS = 0.02


@dataclass
class RunResult:
    seconds: float
    peak_rss: list[int]  # per worker, in the workers' address order
    start_rss: list[int]
    disk_write_bytes: int  # all workers' /proc/PID/io write_bytes, summed
    worker_cpu: float  # the workers' CPU seconds, summed
    service_cpu: float | None  # CPU seconds of the process serving the shuffle on this machine
    stored_bytes: int | None  # the tierfs service's size of the shuffle (None: a Dask mode)
    problems: list[str]


class WorkerSampler:
    """Samples the RSS of the worker processes in a background thread, keeping each peak,
    and reads their write_bytes and the CPU time of them and of ``service_pid`` before and
    after."""

    def __init__(self, pids: list[int], service_pid: int | None = None):
        self.processes = [psutil.Process(pid) for pid in pids]
        self.service = psutil.Process(service_pid) if service_pid is not None else None
        self.start_rss = [p.memory_info().rss for p in self.processes]
        self.peak_rss = list(self.start_rss)
        self._writes = self._write_bytes()
        self._cpu = (_cpu_seconds(self.processes), self._service_cpu())
        self.disk_write_bytes = 0
        self.worker_cpu, self.service_cpu = 0.0, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)

    def _write_bytes(self) -> int:
        return sum(p.io_counters().write_bytes for p in self.processes)

    def _sample(self) -> None:
        while not self._stop.wait(_SAMPLE_SECONDS):
            for index, process in enumerate(self.processes):
                try:
                    rss = process.memory_info().rss
                except psutil.NoSuchProcess:  # the worker died; the run will fail and say so
                    continue
                self.peak_rss[index] = max(self.peak_rss[index], rss)

    def __enter__(self) -> WorkerSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        try:
            self.disk_write_bytes = self._write_bytes() - self._writes
            self.worker_cpu = _cpu_seconds(self.processes) - self._cpu[0]
        except psutil.NoSuchProcess:
            self.disk_write_bytes = 0
        if self.service is not None:
            try:
                self.service_cpu = self._service_cpu() - self._cpu[1]
            except psutil.NoSuchProcess:  # the service died: the run fails and says so
                self.service_cpu = None

    def _service_cpu(self) -> float:
        return _cpu_seconds([self.service]) if self.service is not None else 0.0


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    return sum(times.user + times.system for times in (p.cpu_times() for p in processes))


def import_engines() -> None:
    """Run in each worker before a timed job, so no mode pays for the first imports."""
    import distributed.shuffle  # noqa: F401
    import pyarrow  # noqa: F401

    import tierfs.shuffle.dask  # noqa: F401


def worker_pids(client) -> list[int]:
    pids = client.run(os.getpid)
    return [pids[address] for address in sorted(pids)]


def summaries(client, ddf: dd.DataFrame) -> list[Summary]:
    """The summary of every partition of ``ddf``, in partition order, computed in the workers."""
    tasks = [dask.delayed(summarize, pure=False)(part) for part in ddf.to_delayed()]
    return client.gather(client.compute(tasks))


def run_once(client, mode: Mode, ddf: dd.DataFrame, expected: tuple[int, int],
             service_pid: int | None = None) -> RunResult:
    client.run(import_engines)
    shuffle_id = f"bench-{uuid.uuid4().hex[:12]}"
    try:
        with WorkerSampler(worker_pids(client), service_pid) as sampler:
            start = time.perf_counter()
            output = summaries(client, mode.sort(ddf, shuffle_id))
            seconds = time.perf_counter() - start
        stored = _stored_bytes(mode, shuffle_id)
    finally:
        if mode.is_tierfs:
            _delete(mode, shuffle_id)
    return RunResult(seconds, sampler.peak_rss, sampler.start_rss, sampler.disk_write_bytes,
                     sampler.worker_cpu, sampler.service_cpu, stored, problems(output, expected))


def _stored_bytes(mode: Mode, shuffle_id: str) -> int | None:
    if not mode.is_tierfs:
        return None
    for summary in mode.open_service().list():
        if summary.shuffle_id == shuffle_id:
            return summary.bytes
    return 0


def _delete(mode: Mode, shuffle_id: str) -> None:
    from tierfs.shuffle import ShuffleNotFoundError

    try:
        mode.open_service().delete(shuffle_id)
    except ShuffleNotFoundError:
        pass  # the job failed before it created the shuffle
