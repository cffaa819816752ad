"""How fast the store alone takes a shuffle's bytes: the floor under the object-store mode.

The s3 mode must put every map output in the store before a reducer may read it. The
same bytes put by plain s3fs, with as many writers as the cluster has task threads, give
the least time any shuffle client could take on that store, whatever it does.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import fsspec

_PAYLOADS = 4  # distinct object contents, so no store can answer from a deduplicated copy


@dataclass(frozen=True)
class UploadFloor:
    nbytes: int
    objects: int
    writers: int
    seconds: float

    @property
    def mib_per_s(self) -> float:
        return self.nbytes / self.seconds / 2**20

    def line(self) -> str:
        return (f"store upload floor: {self.nbytes / 2**20:,.0f} MiB in {self.objects} objects "
                f"by {self.writers} plain s3fs writers took {self.seconds:.2f} s "
                f"({self.mib_per_s:.0f} MiB/s): no s3 shuffle of these bytes can be faster")


def measure_upload_floor(s3_options: dict, root: str, nbytes: int, objects: int,
                         writers: int) -> UploadFloor:
    """Put ``nbytes`` as ``objects`` equal objects under ``root``, timed, then delete them."""
    if nbytes <= 0 or objects <= 0 or writers <= 0:
        raise ValueError("the upload floor needs bytes, objects and writers above 0")
    fs = fsspec.filesystem("s3", **s3_options)
    size = max(1, nbytes // objects)
    payloads = [os.urandom(size) for _ in range(min(_PAYLOADS, objects))]
    folder = f"{root.rstrip('/')}/upload-floor-{os.urandom(4).hex()}"
    paths = [f"{folder}/{index:05d}" for index in range(objects)]
    started = time.perf_counter()
    with ThreadPoolExecutor(writers, thread_name_prefix="upload-floor") as pool:
        list(pool.map(lambda i: fs.pipe_file(paths[i], payloads[i % len(payloads)]),
                      range(objects)))
    seconds = time.perf_counter() - started
    fs.rm(folder, recursive=True)
    return UploadFloor(size * objects, objects, writers, seconds)
