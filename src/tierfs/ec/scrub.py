"""Scrub: read every cell of every file, verify its checksum, and report what is damaged.

It reads all k + m fragments (a normal read touches only what it needs), so it finds bit
rot in parity too, and checks that every manifest copy is present and current. It changes
nothing; ``repair`` acts on its findings.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from tierfs.ec.filesystem import ECFileSystem
from tierfs.ec.manifest import Manifest

BATCH_BYTES = 32 * 2**20  # logical bytes verified at a time: bounds the scrubber's memory


@dataclass
class FileHealth:
    path: str
    size: int
    m: int
    damaged: dict[int, str] = field(default_factory=dict)  # fragment -> first problem seen
    damaged_cells: int = 0
    worst_stripe_losses: int = 0  # most cells lost in any one stripe
    manifest_problems: dict[str, str] = field(default_factory=dict)  # target url -> problem

    @property
    def healthy(self) -> bool:
        return not self.damaged and not self.manifest_problems

    @property
    def recoverable(self) -> bool:
        return self.worst_stripe_losses <= self.m

    def describe(self) -> str:
        parts = [f"fragment {i}: {why}" for i, why in sorted(self.damaged.items())]
        parts += [f"manifest on {url}: {why}"
                  for url, why in sorted(self.manifest_problems.items())]
        state = "recoverable" if self.recoverable else "NOT RECOVERABLE (more than m lost)"
        return f"{self.path}: {state}; " + "; ".join(parts)


def stripe_batches(manifest: Manifest) -> Iterator[list[int]]:
    """The file's stripes in groups of about BATCH_BYTES logical bytes."""
    per_batch = max(1, BATCH_BYTES // manifest.policy.stripe_size)
    stripes = manifest.layout.num_stripes
    for first in range(0, stripes, per_batch):
        yield list(range(first, min(first + per_batch, stripes)))


def check_file(fs: ECFileSystem, manifest: Manifest) -> FileHealth:
    """Verify every stored cell and manifest copy of one file version."""
    health = FileHealth(manifest.path, manifest.size, manifest.m)
    reader = fs.reader(manifest)
    width = len(manifest.targets)
    for stripes in stripe_batches(manifest):
        problems: dict[int, dict[int, str]] = {stripe: {} for stripe in stripes}
        good: dict[int, dict] = {stripe: {} for stripe in stripes}
        reader.fetch_cells({stripe: set(range(width)) for stripe in stripes}, good, problems)
        for stripe_problems in problems.values():
            health.damaged_cells += len(stripe_problems)
            health.worst_stripe_losses = max(health.worst_stripe_losses, len(stripe_problems))
            for index, why in stripe_problems.items():
                health.damaged.setdefault(index, why)
    health.manifest_problems = fs.catalog.copy_problems(manifest)
    return health


def scrub(fs: ECFileSystem, path: str = "", progress=None) -> Iterator[FileHealth]:
    """Check every file under ``path``; ``progress(bytes)`` is told after each file."""
    files = [path] if path and fs.isfile(path) else fs.find(path)
    for name in files:
        manifest = fs.manifest(name)
        yield check_file(fs, manifest)
        if progress is not None:
            progress(manifest.size)
