"""Device models for write benchmarks: SSD-class and disk-class storage on a one-disk machine.

A ``Device`` serves requests the way a storage device does: at most ``queue_depth`` at once,
each paying a fixed latency (seek and rotation, or flash program and flush) and then its
bytes at the device's bandwidth, shared by all requests. ``ModeledFileSystem`` applies a
device below the fsspec API: every file it writes is really written (and fsynced) into a
directory, then the request is held until the model's service time has passed.
It models time only; it is not a filesystem of its own (it is fsspec's local one).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

from fsspec.implementations.local import LocalFileSystem

from tierfs.writeback.durability import fsync_directory


@dataclass(frozen=True)
class DeviceModel:
    name: str
    latency_s: float  # per request: seek + rotation, or program + flush
    bandwidth: float  # bytes per second, shared by concurrent requests
    queue_depth: int  # requests served at once (1: a single spindle)

    def describe(self) -> str:
        return (f"{self.name}: {self.latency_s * 1e3:.2f} ms per request + bytes at "
                f"{self.bandwidth / 1e6:,.0f} MB/s, {self.queue_depth} request(s) at once")


SATA_SSD = DeviceModel("SSD-class (SATA SSD)", 100e-6, 500e6, 32)
HDD_7200RPM = DeviceModel("disk-class (7200 rpm HDD)", 8e-3, 160e6, 1)


class Device:
    """One running device: a queue of ``queue_depth`` slots and a shared bandwidth timeline."""

    def __init__(self, model: DeviceModel):
        self.model = model
        self._slots = threading.BoundedSemaphore(model.queue_depth)
        self._lock = threading.Lock()
        self._busy_until = 0.0  # when the bandwidth is free again (monotonic seconds)
        self.requests = 0  # served so far, and their bytes: what was charged to the model
        self.bytes = 0

    def request(self, nbytes: int) -> None:
        """Block for as long as this device takes to serve a request of ``nbytes``.

        The request's bytes start moving after its latency, once earlier requests' bytes
        are through: one reservation on the bandwidth timeline, one sleep.
        """
        with self._slots:
            with self._lock:
                self.requests += 1
                self.bytes += nbytes
                start = max(time.monotonic() + self.model.latency_s, self._busy_until)
                self._busy_until = start + nbytes / self.model.bandwidth
                done = self._busy_until
            _sleep_until(done)


def _sleep_until(deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)


class ModeledFileSystem(LocalFileSystem):
    """fsspec's local filesystem whose writes, renames and deletes are served by a ``Device``.

    Every fsync is one device request: a written file costs a request carrying its bytes
    (the file's fsync) and an empty one (its directory's fsync); a rename or delete costs
    one empty request. The real fsyncs are made too, so "returned" means "durable".
    ``source``, if given, is the device ``put_file`` reads from (a write-back buffer's SSD):
    each upload first costs it a request carrying the file's bytes.
    """

    def __init__(self, device: Device, source: Device | None = None, **kwargs):
        super().__init__(auto_mkdir=True, skip_instance_cache=True, **kwargs)
        self.device = device
        self.source = source

    def pipe_file(self, path, value, mode="overwrite", **kwargs):
        self._write_durably(self._strip_protocol(path), [value])

    def put_file(self, lpath, rpath, callback=None, **kwargs):
        if self.source is not None:
            self.source.request(os.path.getsize(lpath))
        with open(lpath, "rb") as source:
            self._write_durably(self._strip_protocol(rpath), iter(
                lambda: source.read(4 << 20), b""
            ))

    def rm_file(self, path):
        super().rm_file(path)
        self.device.request(0)

    def mv(self, path1, path2, **kwargs):
        super().mv(path1, path2, **kwargs)
        self.device.request(0)

    def _write_durably(self, path: str, chunks) -> None:
        self.makedirs(self._parent(path), exist_ok=True)
        size = 0
        with open(path, "wb") as file:
            for chunk in chunks:
                file.write(chunk)
                size += len(chunk)
            file.flush()
            os.fsync(file.fileno())
        fsync_directory(self._parent(path))
        self.device.request(size)
        self.device.request(0)

