"""A remote-like target (a ``DirFileSystem``, so a dead writer's requests may land late)
whose uploads of paths containing "stall" never return: the writer dies mid-upload.

Usage: ``python -m tests.writeback.stalling_target BUFFER_DIR TARGET_DIR``: writes
``stall`` then ``quick`` through one upload worker, prints ``acknowledged``, waits.
"""

from __future__ import annotations

import sys
import time

from fsspec.implementations.dirfs import DirFileSystem
from fsspec.implementations.local import LocalFileSystem

from tierfs.writeback import WriteBackBuffer


class StallingTarget(DirFileSystem):
    def put_file(self, lpath, rpath, **kwargs):
        if "stall" in rpath:
            time.sleep(3600)
        return super().put_file(lpath, rpath, **kwargs)


def remote_like(target_dir: str) -> DirFileSystem:
    return DirFileSystem(path=target_dir, fs=LocalFileSystem(), skip_instance_cache=True)


def main(buffer_dir: str, target_dir: str) -> None:
    target = StallingTarget(path=target_dir, fs=LocalFileSystem(), skip_instance_cache=True)
    buffer = WriteBackBuffer(buffer_dir, "16MiB", target, upload_workers=1)
    buffer.pipe("stall", b"in flight when the writer died")
    buffer.pipe("quick", b"never started")
    print("acknowledged", flush=True)
    time.sleep(3600)


if __name__ == "__main__":
    main(*sys.argv[1:])
