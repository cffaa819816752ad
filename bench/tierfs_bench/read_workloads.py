"""The workloads of the read benchmark, written once against ``Reader`` for every variant.

Each returns the number of bytes it delivered and raises if a read came back short, so a
variant cannot look fast by reading less. Checking the bytes themselves is ``verify``'s job,
outside the timed region.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import xxhash

from tierfs_bench.read_data import DataSet
from tierfs_bench.read_variants import RANDOM, SEQUENTIAL, Reader


def _fill(f, view: memoryview) -> int:
    """readinto until ``view`` is full or the file ends (a short read is legal in Python's I/O)."""
    done = 0
    while done < len(view):
        n = f.readinto(view[done:])
        if not n:
            break
        done += n
    return done


def sequential(reader: Reader, dataset: DataSet) -> int:
    """Each large file front to back, ``read_size`` bytes at a time into one preallocated buffer."""
    view = memoryview(bytearray(dataset.spec.read_size))
    total = 0
    for index in range(len(dataset.large)):
        with reader.open_large(index, SEQUENTIAL) as f:
            while n := f.readinto(view):
                total += n
    return total


def random_reads(reader: Reader, dataset: DataSet) -> int:
    """``random_size`` reads at the seeded offsets, all large files open, interleaved."""
    view = memoryview(bytearray(dataset.spec.random_size))
    files = [reader.open_large(i, RANDOM) for i in range(len(dataset.large))]
    total = 0
    try:
        for index, offset in dataset.random_offsets:
            f = files[index]
            f.seek(offset)
            total += _fill(f, view)
    finally:
        for f in files:
            f.close()
    return total


def small_files(reader: Reader, dataset: DataSet) -> int:
    """Every small file opened and read whole, one after the other (a map-style data loader)."""
    total = 0
    for index in range(len(dataset.small)):
        with reader.open_small(index) as f:
            total += len(f.read())
    return total


def small_cat(reader: Reader, dataset: DataSet) -> int:
    """Every small file in one ``cat`` call (concurrent where the filesystem is async)."""
    return reader.cat_small()


@dataclass(frozen=True)
class Workload:
    name: str
    run: Callable[[Reader, DataSet], int]
    nbytes: int  # what every run must deliver
    description: str


def workloads(dataset: DataSet) -> list[Workload]:
    spec = dataset.spec
    mib = 2**20
    large = spec.large_files * spec.large_size
    small = spec.small_files * spec.small_size
    return [
        Workload("sequential", sequential, large,
                 f"{spec.large_files} x {spec.large_size / mib:g} MiB files, read whole with "
                 f"readinto of {spec.read_size / mib:g} MiB"),
        Workload("random", random_reads, spec.random_reads * spec.random_size,
                 f"{spec.random_reads} reads of {spec.random_size // 1024} KiB at seeded offsets "
                 "of the large files (open once, seek + readinto)"),
        Workload("small-files", small_files, small,
                 f"{spec.small_files} files of {spec.small_size // 1024} KiB, open + read each"),
        Workload("small-cat", small_cat, small,
                 f"the same {spec.small_files} files in one fs.cat(paths) call"),
    ]


def verify(reader: Reader, dataset: DataSet, samples: int = 16) -> None:
    """Compare what ``reader`` returns with the local bytes; ``AssertionError`` if they differ."""
    spec = dataset.spec
    rng = random.Random(spec.seed + 7)
    view = memoryview(bytearray(spec.read_size))
    index = rng.randrange(len(dataset.large))
    digest = xxhash.xxh3_128()
    with reader.open_large(index, SEQUENTIAL) as f:
        while n := f.readinto(view):
            digest.update(view[:n])
    expected = xxhash.xxh3_128(dataset.local_large[index].read_bytes()).hexdigest()
    if digest.hexdigest() != expected:
        raise AssertionError(f"{reader.name}: large file {index} read back different bytes")
    for index, offset in rng.sample(dataset.random_offsets, min(samples, spec.random_reads)):
        with reader.open_large(index, RANDOM) as f, open(dataset.local_large[index], "rb") as lf:
            f.seek(offset)
            lf.seek(offset)
            if f.read(spec.random_size) != lf.read(spec.random_size):
                raise AssertionError(f"{reader.name}: bytes differ at {index}:{offset}")
    for index in rng.sample(range(len(dataset.small)), min(samples, len(dataset.small))):
        with reader.open_small(index) as f:
            if f.read() != dataset.local_small[index].read_bytes():
                raise AssertionError(f"{reader.name}: small file {index} differs")
