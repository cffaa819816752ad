"""The four ways ``tierfs-bench writecache`` writes the same files, each timed the same way.

A variant writes a list of (path, bytes) with a pool of writer threads and reports two
times from the same start: when the last write was acknowledged to its writer, and when
the last byte was durable in the target. Each run gets fresh directories and devices.
"""

from __future__ import annotations

import itertools
import shutil
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from fsspec import AbstractFileSystem

from tierfs.writeback import WriteBackBuffer
from tierfs.writeback.blobs import BLOB_BATCH
from tierfs_bench.device_model import Device, DeviceModel, ModeledFileSystem

Files = list[tuple[str, bytes]]


@dataclass
class Timing:
    ack_s: float
    durable_s: float
    ssd_requests: int = 0  # charged to the write-back buffer's SSD model (writes and uploads)
    ssd_bytes: int = 0


@dataclass
class Setup:
    ssd: DeviceModel
    disk: DeviceModel
    buffer_root: Path  # where write-back buffers live (the SSD-class device's directory)
    target_root: Path  # where modeled targets keep their bytes
    writers: int
    buffer_capacity: int
    upload_workers: int
    s3: AbstractFileSystem | None
    bucket: str


def _write_all(files: Files, write: Callable[[str, bytes], None], writers: int) -> None:
    with ThreadPoolExecutor(writers) as pool:
        for future in [pool.submit(write, path, data) for path, data in files]:
            future.result()


def _verify(fs: AbstractFileSystem, root: str, files: Files) -> None:
    """Every file is in the target with its size, and the first and last byte-exact."""
    sizes = {path: info["size"] for path, info in fs.find(root, detail=True).items()}
    expected = {f"{root}/{name}": len(data) for name, data in files}
    if sizes != expected:
        missing = sorted(set(expected) - set(sizes))[:3]
        raise AssertionError(f"target {root} differs: {len(sizes)} files, missing {missing}")
    for name, data in (files[0], files[-1]):
        if fs.cat_file(f"{root}/{name}") != data:
            raise AssertionError(f"target {root}/{name} has other bytes")


def direct(model_of: Callable[[Setup], DeviceModel]):
    """Writers write each file straight into a target served by one modeled device."""

    def run(setup: Setup, files: Files) -> Timing:
        root = setup.target_root / uuid.uuid4().hex
        target = ModeledFileSystem(Device(model_of(setup)))
        started = time.perf_counter()
        _write_all(files, lambda name, data: target.pipe_file(f"{root}/{name}", data),
                   setup.writers)
        elapsed = time.perf_counter() - started
        _verify(target, str(root), files)
        shutil.rmtree(root)
        return Timing(elapsed, elapsed)

    return run


def write_back(setup: Setup, files: Files) -> Timing:
    """Writers write into a WriteBackBuffer on the SSD-class device; it uploads to disk-class.

    Its os-level I/O is charged here, a request per fsync, read or unlink (see the notes).
    """
    run_id = uuid.uuid4().hex
    root = setup.target_root / run_id
    buffer_dir = setup.buffer_root / run_id
    ssd = Device(setup.ssd)
    acknowledged_files = itertools.count()
    target = ModeledFileSystem(Device(setup.disk), source=ssd)

    def uploaded(_path: str, _blob: str) -> None:  # before the done record and the unlink
        ssd.request(0)
        ssd.request(0)

    with WriteBackBuffer(
        buffer_dir, setup.buffer_capacity, target, upload_workers=setup.upload_workers,
        when_full="wait", on_uploaded=uploaded,
    ) as buffer:

        def write(name: str, data: bytes) -> None:
            if next(acknowledged_files) % BLOB_BATCH == 0:
                ssd.request(0)
            buffer.pipe(f"{root}/{name}", data)
            ssd.request(len(data))
            ssd.request(0)

        started = time.perf_counter()
        _write_all(files, write, setup.writers)
        acknowledged = time.perf_counter() - started
        if not buffer.wait_flushed():
            raise AssertionError(f"write-back did not flush: {buffer.stats()}")
        durable = time.perf_counter() - started
    _verify(target, str(root), files)
    shutil.rmtree(root)
    shutil.rmtree(buffer_dir)
    return Timing(acknowledged, durable, ssd.requests, ssd.bytes)


def seaweedfs_through(setup: Setup, files: Files) -> Timing:
    """Writers PUT each file to SeaweedFS through s3fs (no model: a real server on this disk)."""
    root = f"{setup.bucket}/{uuid.uuid4().hex}"
    started = time.perf_counter()
    _write_all(files, lambda name, data: setup.s3.pipe_file(f"{root}/{name}", data),
               setup.writers)
    elapsed = time.perf_counter() - started
    _verify(setup.s3, root, files)
    setup.s3.rm(root, recursive=True)
    return Timing(elapsed, elapsed)


VARIANTS: dict[str, Callable[[Setup, Files], Timing]] = {
    "write-back": write_back,
    "all-ssd": direct(lambda setup: setup.ssd),
    "all-disk": direct(lambda setup: setup.disk),
    "seaweedfs": seaweedfs_through,
}
LEGEND = {
    "write-back": "(a) write-back buffer on the SSD-class device, uploading to a disk-class target",
    "all-ssd": "(b) straight to an SSD-class target",
    "all-disk": "(c) straight to a disk-class target",
    "seaweedfs": "(d) write-through to SeaweedFS via s3fs (real server, no model)",
}
