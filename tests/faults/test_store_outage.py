"""SeaweedFS stopped and restarted under cold reads, write-back uploads and EC writes.

One outage serves every test of this module: a dedicated server (the session one is shared)
is stopped while the workloads run and restarted on the same ports and data directory.
Readers get exact bytes or a clean error, uploads resume with nothing lost, EC writes
succeed whole or fail leaving nothing visible, and an EC file that lost one target midway
is restored by scrub and repair.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import fsspec
import pytest

from soak.payloads import payload
from tests.faults import outage_workloads as workloads
from tierfs.ec import ECFileSystem
from tierfs.ec.repair import repair_file
from tierfs.ec.scrub import scrub
from tierfs.embedded import EmbeddedS3

KiB, MiB = 1024, 2**20
CELL = 64 * KiB
OUTAGE_S = 1.0  # the server stays down this long after it stopped


def _ec_options(urls: list[str], options: list[dict]) -> dict:
    short = [o | {"config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 2}}
             for o in options]
    return {"targets": urls, "target_options": short, "cell_size": CELL,
            "skip_instance_cache": True}


def _ready(store: EmbeddedS3, bucket: str) -> None:
    """A new bucket's first writes may fail while SeaweedFS grows its volumes: wait that out."""
    s3 = fsspec.filesystem("s3", skip_instance_cache=True, **store.storage_options())
    deadline = time.monotonic() + 30
    while True:
        try:
            s3.pipe(f"{bucket}/probe", b"probe")
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _wait_for(progress, timeout: float = 60) -> None:
    """Until every workload made ``progress`` (a loaded machine is slow to start them)."""
    deadline = time.monotonic() + timeout
    while not progress() and time.monotonic() < deadline:
        time.sleep(0.1)


class LoneTargetWrite(threading.Thread):
    """One EC file streamed across the moment its sixth target's server stops."""

    def __init__(self, ec_options: dict, stopped: threading.Event):
        super().__init__(name="LoneTargetWrite", daemon=True)
        self.fs = ECFileSystem(**ec_options)
        self.stopped = stopped
        self.path = "lone/streamed"
        self.size = 16 * 4 * CELL + 999  # 16 stripes and a bit
        self.error: BaseException | None = None

    def run(self) -> None:
        data = payload(self.path, self.size)
        try:
            with self.fs.open(self.path, "wb") as file:
                file.write(data[: self.size // 2])
                self.stopped.wait(60)
                file.write(data[self.size // 2:])
        except BaseException as error:  # noqa: BLE001 - the test reports it
            self.error = error


@pytest.fixture(scope="module")
def outage(seaweed, shared_bucket, tmp_path_factory):
    """Run every workload, stop the dedicated server under them, restart it; the results."""
    base = tmp_path_factory.mktemp("store-outage")
    with EmbeddedS3(base / "weed") as store:
        bucket = store.create_bucket("faults")
        _ready(store, bucket)
        options = store.storage_options()
        direct = fsspec.filesystem("s3", skip_instance_cache=True, use_listings_cache=False,
                                   **options)
        objects = {f"{bucket}/cold/o{i}": MiB + i for i in range(4)}
        direct.pipe({path: payload(path, size) for path, size in objects.items()})
        session_prefix = f"{shared_bucket}/faults-{uuid.uuid4().hex[:8]}"
        all_down = _ec_options([f"s3://{bucket}/ec{i}" for i in range(6)], [options] * 6)
        one_down = _ec_options(
            [f"s3://{session_prefix}/ec{i}" for i in range(5)] + [f"s3://{bucket}/lone"],
            [seaweed.storage_options()] * 5 + [options])

        stop, stopped = threading.Event(), threading.Event()
        readers = [workloads.ColdReader(stop, options, objects) for _ in range(2)]
        writer = workloads.WriteBackWriter(stop, options, f"{bucket}/wb", str(base / "buffer"))
        ec_writer = workloads.ECWriter(stop, all_down)
        lone = LoneTargetWrite(one_down, stopped)
        running = [*readers, writer, ec_writer]
        for thread in [*running, lone]:
            thread.start()
        _wait_for(lambda: all(r.reads for r in readers) and writer.acknowledged
                  and ec_writer.written)
        before = {"reads": sum(r.reads for r in readers), "acks": len(writer.acknowledged),
                  "ec": len(ec_writer.written)}
        store.stop()
        stopped.set()
        time.sleep(OUTAGE_S)
        store.start()
        for reader in readers:
            reader.restarted.set()
        restarted_at = (len(writer.acknowledged), len(ec_writer.written))
        _wait_for(lambda: all(r.reads_after_restart for r in readers)
                  and len(writer.acknowledged) > restarted_at[0]
                  and len(ec_writer.written) > restarted_at[1])
        stop.set()
        for thread in [*running, lone]:
            thread.join(120)
        flushed = writer.fs.wait_flushed(120)
        yield {"store": store, "direct": direct, "objects": objects, "readers": readers,
               "writer": writer, "ec_writer": ec_writer, "lone": lone, "flushed": flushed,
               "before": before, "restarted_at": restarted_at,
               "all_down": all_down, "one_down": one_down}


def test_cold_reads_across_a_store_restart_get_exact_bytes_or_a_clean_error(
        outage, reliability):
    readers = outage["readers"]
    reliability.fault = "SeaweedFS stopped and restarted under cold reads (2 readers)"
    reliability.injections = 1
    reliability.operations = sum(r.reads + sum(r.errors.values()) for r in readers)
    reliability.bytes_verified = sum(r.bytes_verified for r in readers)
    reliability.wrong_bytes = sum(r.wrong_bytes for r in readers)
    reliability.clean_errors = sum(sum(r.errors.values()) for r in readers)
    reliability.extra = {"errors": dict(sum((r.errors for r in readers), Counter()))}
    assert all(r.crashed is None and not r.unclean for r in readers), \
        [(r.crashed, r.unclean[:3]) for r in readers]
    assert reliability.wrong_bytes == 0
    assert outage["before"]["reads"] > 0
    assert all(r.reads_after_restart > 0 for r in readers)  # they resumed


def test_uploads_interrupted_by_a_store_restart_resume_with_nothing_lost(outage, reliability):
    writer, direct = outage["writer"], outage["direct"]
    lost = verified = 0
    present = direct.cat(list(writer.acknowledged), on_error="return")  # concurrent GETs
    for path, size in writer.acknowledged.items():
        got = present.get(path)
        if isinstance(got, bytes):
            verified += size
        lost += 0 if got == payload(path, size) else size
    reliability.fault = "SeaweedFS stopped and restarted under write-back uploads"
    reliability.injections = 1
    reliability.operations = len(writer.acknowledged) + sum(writer.errors.values())
    reliability.acknowledged_bytes = sum(writer.acknowledged.values())
    reliability.bytes_verified = verified
    reliability.lost_bytes = lost
    reliability.clean_errors = sum(writer.errors.values())
    assert writer.crashed is None and not writer.unclean, (writer.crashed, writer.unclean[:3])
    assert outage["flushed"], writer.fs.cache_stats()
    assert len(writer.acknowledged) > outage["restarted_at"][0] > outage["before"]["acks"] > 0
    assert lost == 0


def test_ec_writes_during_a_store_outage_succeed_whole_or_leave_nothing(outage, reliability):
    ec_writer = outage["ec_writer"]
    fs = ECFileSystem(**outage["all_down"])
    failed = [path for path in ec_writer.attempted if path not in ec_writer.written]
    verified = wrong = 0
    for path in ec_writer.written:
        size, bad = workloads.read_and_compare(fs, path, workloads.ec_size(path))
        verified, wrong = verified + size, wrong + bad
    visible_failures = {path: (ec_writer.failures[path], _read_outcome(fs, path))
                        for path in failed if fs.exists(path)}
    reliability.fault = "SeaweedFS (all six EC targets) stopped and restarted under EC writes"
    reliability.injections = 1
    reliability.operations = len(ec_writer.attempted)
    reliability.acknowledged_bytes = sum(workloads.ec_size(p) for p in ec_writer.written)
    reliability.bytes_verified = verified
    reliability.wrong_bytes = wrong
    reliability.lost_bytes = reliability.acknowledged_bytes - verified
    reliability.clean_errors = sum(ec_writer.errors.values())
    assert ec_writer.crashed is None and not ec_writer.unclean, ec_writer.unclean[:3]
    assert failed and ec_writer.errors  # the outage was felt, as named errors
    assert len(ec_writer.written) > outage["restarted_at"][1]  # writes resumed
    assert wrong == 0 and not visible_failures, visible_failures


def test_an_ec_write_losing_one_target_midway_succeeds_and_repair_restores_it(
        outage, reliability):
    lone = outage["lone"]
    fs = ECFileSystem(**outage["one_down"])  # a new process's view: no target marked down
    damaged = [health for health in scrub(fs) if not health.healthy]
    for health in damaged:
        repair_file(fs, health)
    after = [health for health in scrub(fs) if not health.healthy]
    size, wrong = workloads.read_and_compare(fs, lone.path, lone.size)
    reliability.fault = "one of six EC targets stopped mid-write, then scrub and repair"
    reliability.injections = 1
    reliability.operations = 1
    reliability.acknowledged_bytes = lone.size
    reliability.bytes_verified = size
    reliability.wrong_bytes = wrong
    reliability.lost_bytes = 0 if size == lone.size else lone.size
    assert lone.error is None, lone.error
    assert [h.path for h in damaged] == [lone.path]
    lost_on = {fs.manifest(lone.path).targets[i] for i in damaged[0].damaged}
    assert lost_on == {outage["one_down"]["targets"][5]}  # the stopped target's fragment
    assert after == [] and wrong == 0


def _read_outcome(fs, path: str) -> str:
    try:
        size, wrong = workloads.read_and_compare(fs, path, workloads.ec_size(path))
        return f"reads {size} bytes, {wrong} wrong"
    except Exception as error:  # noqa: BLE001 - reported by the assertion
        return f"{type(error).__name__}: {error}"[:300]
