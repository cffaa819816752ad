"""Workloads that run while a test stops and restarts a SeaweedFS server under them.

Each is a thread that keeps working until told to stop and counts what it saw: bytes
served exactly or wrongly, writes acknowledged, and errors by type (see ``CLEAN_ERRORS``).
"""

from __future__ import annotations

import collections
import threading
import time

import fsspec

from soak.client import CLEAN_ERRORS
from soak.payloads import payload
from tierfs.ec import ECFileSystem

KiB = 1024


class Workload(threading.Thread):
    """Runs ``step()`` until ``stop`` is set; an unexpected exception ends it and is kept."""

    def __init__(self, stop: threading.Event):
        super().__init__(name=type(self).__name__, daemon=True)
        self.stop = stop
        self.errors: collections.Counter[str] = collections.Counter()
        self.unclean: list[str] = []
        self.crashed: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    self.step()
                except CLEAN_ERRORS as error:
                    self.errors[type(error).__name__] += 1
                    time.sleep(0.1)
                except Exception as error:  # noqa: BLE001 - an unclean error, reported
                    self.unclean.append(f"{type(error).__name__}: {error}"[:300])
                    time.sleep(0.1)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            self.crashed = error

    def step(self) -> None:
        raise NotImplementedError


class ColdReader(Workload):
    """Reads every object cold (its cache cleared each round) and checks every byte."""

    def __init__(self, stop, storage_options: dict, objects: dict[str, int]):
        super().__init__(stop)
        self.objects = objects
        self.fs = fsspec.filesystem(
            "tierfs", target_protocol="s3", target_options=storage_options,
            skip_instance_cache=True, block_size=256 * KiB,
            tiers=[{"medium": "memory", "capacity": "16MiB"}])
        self.reads = self.bytes_verified = self.wrong_bytes = 0
        self.restarted = threading.Event()
        self.reads_after_restart = 0

    def step(self) -> None:
        self.fs.clear_cache()
        for path, size in self.objects.items():
            got = self.fs.cat_file(path)
            expected = payload(path, size)
            self.reads += 1
            self.bytes_verified += len(expected)
            self.wrong_bytes += _differing(got, expected)
            self.reads_after_restart += self.restarted.is_set()


class WriteBackWriter(Workload):
    """Writes 64 KiB files through tierfs's write-back mode; remembers what was acknowledged."""

    def __init__(self, stop, storage_options: dict, root: str, buffer_dir: str):
        super().__init__(stop)
        self.root = root
        self.fs = fsspec.filesystem(
            "tierfs", target_protocol="s3", target_options=storage_options,
            skip_instance_cache=True, write_mode="back", buffer_dir=buffer_dir,
            buffer_capacity="64MiB", tiers=[{"medium": "memory", "capacity": "16MiB"}])
        self.acknowledged: dict[str, int] = {}

    def step(self) -> None:
        path = f"{self.root}/f{len(self.acknowledged):04d}"
        self.fs.pipe_file(path, payload(path, 64 * KiB))
        self.acknowledged[path] = 64 * KiB
        time.sleep(0.02)


class ECWriter(Workload):
    """Writes files of a few stripes to an erasure-coded store, each under a new name."""

    def __init__(self, stop, ec_options: dict, size: int = 300 * KiB):
        super().__init__(stop)
        self.fs = ECFileSystem(**ec_options)
        self.size = size
        self.attempted: list[str] = []
        self.written: list[str] = []
        self.failures: dict[str, str] = {}

    def step(self) -> None:
        path = f"w/{len(self.attempted):04d}"
        self.attempted.append(path)
        try:
            self.fs.pipe_file(path, payload(path, self.size + len(self.attempted)))
        except Exception as error:
            self.failures[path] = f"{type(error).__name__}: {error}"[:300]
            raise
        self.written.append(path)


def ec_size(path: str, size: int = 300 * KiB) -> int:
    """The size ``ECWriter`` gave ``path``."""
    return size + int(path.rsplit("/", 1)[-1]) + 1


def _differing(got: bytes, expected: bytes) -> int:
    if got == expected:
        return 0
    return sum(a != b for a, b in zip(got, expected, strict=False)) + abs(len(got) - len(expected))


def read_and_compare(fs, path: str, size: int) -> tuple[int, int]:
    """(bytes verified, wrong bytes) of ``path`` read through ``fs``."""
    expected = payload(path, size)
    return len(expected), _differing(fs.cat_file(path), expected)
