"""A writer that a test kills every few seconds: writes 1 MiB files until it is killed.

Usage: ``python -m tests.writeback.crash_loop_writer BUFFER_DIR TARGET_URL ROUND``.
Prints ``ready`` once its buffer is open, then each acknowledged file's name.
"""

from __future__ import annotations

import os
import sys

import fsspec

from tierfs.writeback import WriteBackBuffer


def main(buffer_dir: str, target_url: str, round_: str) -> None:
    target, root = fsspec.core.url_to_fs(target_url)
    buffer = WriteBackBuffer(buffer_dir, "24MiB", target, when_full="wait")
    print("ready", flush=True)
    for index in range(10**6):
        name = f"{root}/r{int(round_):02d}-{index:05d}"
        buffer.pipe(name, os.urandom(2**20))
        print(name, flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
