"""The data set of the read benchmark: a few large objects, many small ones, and local copies.

The same bytes are written to local files (the limit every variant is compared with) and
uploaded to the object store; random offsets are drawn once, from a seed, for every variant.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

MiB = 2**20
KiB = 2**10


@dataclass(frozen=True)
class DataSpec:
    """Shape of the data set and of the reads made on it."""

    large_files: int = 4
    large_size: int = 64 * MiB
    small_files: int = 256
    small_size: int = 64 * KiB
    random_reads: int = 512
    random_size: int = 64 * KiB
    read_size: int = 4 * MiB  # the buffer every sequential reader fills with readinto
    seed: int = 20260

    def __post_init__(self) -> None:
        for name in ("large_files", "large_size", "small_files", "small_size", "read_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.random_reads < 0:
            raise ValueError(f"random_reads must be >= 0, got {self.random_reads}")
        if not 0 < self.random_size <= self.large_size:
            raise ValueError(
                f"random_size must be in (0, large_size={self.large_size}], got {self.random_size}"
            )

    @property
    def total_bytes(self) -> int:
        return self.large_files * self.large_size + self.small_files * self.small_size


@dataclass
class DataSet:
    """Where the bytes are: remote paths ("bucket/key"), local twins, and the random offsets."""

    spec: DataSpec
    large: list[str]
    small: list[str]
    local_large: list[Path]
    local_small: list[Path]
    prime_path: str  # a tiny object, read to open connections before timing
    random_offsets: list[tuple[int, int]] = field(default_factory=list)  # (file index, offset)

    @property
    def remote_paths(self) -> list[str]:
        return self.large + self.small + [self.prime_path]


def random_offsets(spec: DataSpec) -> list[tuple[int, int]]:
    """``spec.random_reads`` (file, offset) pairs, the same for every variant and every run."""
    rng = random.Random(spec.seed + 1)
    top = spec.large_size - spec.random_size
    return [
        (rng.randrange(spec.large_files), rng.randint(0, top)) for _ in range(spec.random_reads)
    ]


def _content(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def build_dataset(s3, spec: DataSpec, bucket: str, prefix: str, local_dir: Path) -> DataSet:
    """Write the data set locally, then upload the same files with one batched ``put``."""
    local_dir.mkdir(parents=True, exist_ok=True)
    (local_dir / "large").mkdir(exist_ok=True)
    (local_dir / "small").mkdir(exist_ok=True)
    base = f"{bucket}/{prefix}".rstrip("/")
    dataset = DataSet(
        spec=spec,
        large=[f"{base}/large/{i:03d}.bin" for i in range(spec.large_files)],
        small=[f"{base}/small/{i:05d}.bin" for i in range(spec.small_files)],
        local_large=[local_dir / "large" / f"{i:03d}.bin" for i in range(spec.large_files)],
        local_small=[local_dir / "small" / f"{i:05d}.bin" for i in range(spec.small_files)],
        prime_path=f"{base}/prime.bin",
        random_offsets=random_offsets(spec),
    )
    for i, path in enumerate(dataset.local_large):
        path.write_bytes(_content(spec.seed * 1000 + i, spec.large_size))
    for i, path in enumerate(dataset.local_small):
        path.write_bytes(_content(spec.seed * 1000 + 500_000 + i, spec.small_size))
    prime_local = local_dir / "prime.bin"
    prime_local.write_bytes(b"prime")
    local = [str(p) for p in dataset.local_large + dataset.local_small + [prime_local]]
    s3.put(local, dataset.remote_paths)
    s3.invalidate_cache()
    sizes = {p: s3.info(p)["size"] for p in (dataset.large[0], dataset.small[-1])}
    if sizes != {dataset.large[0]: spec.large_size, dataset.small[-1]: spec.small_size}:
        raise RuntimeError(f"upload check failed: sizes {sizes}")
    return dataset


def remove_dataset(s3, dataset: DataSet) -> None:
    s3.rm(dataset.remote_paths)
