"""The erasure-coded store: Reed–Solomon striping of files over several fsspec targets.

``fsspec.filesystem("ecfs", targets=[...], k=4, m=2)`` is the entry point; the modules
split the concerns (codec, layout, manifest, placement, catalog, writer, reader, scrub).
"""

from tierfs.ec.codec import ECPolicy
from tierfs.ec.errors import (
    ECError,
    ECWriteError,
    FragmentsUnavailableError,
    ManifestUnavailableError,
)
from tierfs.ec.filesystem import ECFileSystem

__all__ = [
    "ECError",
    "ECFileSystem",
    "ECPolicy",
    "ECWriteError",
    "FragmentsUnavailableError",
    "ManifestUnavailableError",
]
