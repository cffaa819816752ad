"""A write-back writer that the soak kills with SIGKILL, round after round.

Usage: ``python -m soak.crash_writer BUFFER_DIR ROOT ROUND`` with the store's s3fs options
as JSON on stdin. Prints ``ready`` once its buffer is open (it finishes what earlier rounds
acknowledged), then the name of each file as soon as its write is acknowledged.
"""

from __future__ import annotations

import json
import sys

import fsspec

from soak.payloads import payload
from tierfs.writeback import WriteBackBuffer

FILE_SIZE = 256 * 1024


def main(buffer_dir: str, root: str, round_: str) -> None:
    store = fsspec.filesystem("s3", skip_instance_cache=True, **json.load(sys.stdin))
    buffer = WriteBackBuffer(buffer_dir, "64MiB", store, when_full="wait")
    print("ready", flush=True)
    for index in range(10**6):
        name = f"{root}/r{int(round_):03d}-{index:05d}"
        buffer.pipe(name, payload(name, FILE_SIZE))
        print(name, flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
