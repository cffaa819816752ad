"""The manifest: the small record that makes a file exist (size, code, placement, checksums).

It is written last, on every target of the file, so a file is visible only once its
fragments are durable. Each copy carries a checksum of its own body: a torn or rotted copy
is ignored and another one read. The newest ``version`` wins among good copies.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

import xxhash

from tierfs.ec.codec import ECPolicy
from tierfs.ec.layout import StripeLayout

FORMAT = "tierfs-ec/1"


def cell_checksum(cell: bytes | memoryview) -> str:
    """xxh3-64 of a stored cell (header and payload): fast, stable across machines."""
    return xxhash.xxh3_64_hexdigest(cell)


class ManifestCorruptError(ValueError):
    """A manifest copy whose bytes do not match its own checksum or format."""


@dataclass(frozen=True)
class Manifest:
    path: str
    size: int
    k: int
    m: int
    cell_size: int
    backend: str
    header_size: int
    tail_cell: int
    file_id: str  # names the fragment objects; new on every write, kept by mv and repair
    created: int  # nanoseconds since the epoch when the bytes were written; kept by mv, repair
    version: int  # nanoseconds since the epoch when this copy's content was decided
    targets: tuple[str, ...]  # target URL holding fragment i
    checksums: tuple[tuple[str, ...], ...]  # [fragment][stripe] -> cell_checksum

    @property
    def policy(self) -> ECPolicy:
        return ECPolicy(self.k, self.m, self.cell_size)

    @property
    def layout(self) -> StripeLayout:
        return StripeLayout(self.k, self.cell_size, self.header_size, self.size, self.tail_cell)

    def fragment_name(self, index: int) -> str:
        return f"{self.file_id}.{index}"

    def moved(self, path: str, version: int) -> Manifest:
        return replace(self, path=path, version=version)

    def relocated(self, targets: list[str], version: int) -> Manifest:
        return replace(self, targets=tuple(targets), version=version)

    def to_bytes(self) -> bytes:
        body = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return json.dumps({"format": FORMAT, "xxh3": xxhash.xxh3_64_hexdigest(body.encode()),
                           "body": body}).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        try:
            envelope = json.loads(data)
            body = envelope["body"]
            if envelope["format"] != FORMAT:
                raise ManifestCorruptError(f"unknown manifest format {envelope['format']!r}")
            if xxhash.xxh3_64_hexdigest(body.encode()) != envelope["xxh3"]:
                raise ManifestCorruptError("manifest checksum mismatch")
            fields = json.loads(body)
            fields["targets"] = tuple(fields["targets"])
            fields["checksums"] = tuple(tuple(column) for column in fields["checksums"])
            return cls(**fields)
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
            raise ManifestCorruptError(f"unreadable manifest: {error}") from error
