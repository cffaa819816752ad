"""The writer process of the crash test: runs a plan through a WriteBackBuffer.

Usage: ``python crash_writer.py CONFIG.json``. Prints ``ready`` once the buffer is open
(recovery done), then the index of each operation after it returned (was acknowledged).
The test SIGKILLs it at a random moment.
"""

from __future__ import annotations

import json
import sys
import time

from crash_plan import content, plan
from fsspec import AbstractFileSystem

from tierfs.writeback import WriteBackBuffer

_CHUNK = 64 << 10


def main(config_path: str) -> None:
    with open(config_path) as file:
        config = json.load(file)
    target = AbstractFileSystem.from_dict(config["target"])
    buffer = WriteBackBuffer(config["buffer_dir"], "64MiB", target)
    print("ready", flush=True)
    for index, op in enumerate(plan(config["seed"], config["prefix"], config["count"])):
        if op[0] == "write":
            data = content(op[2], op[3])
            with buffer.open_write(op[1]) as out:
                for start in range(0, len(data), _CHUNK):
                    out.write(data[start:start + _CHUNK])
        elif op[0] == "rm":
            buffer.rm(op[1])
        else:
            buffer.mv(op[1], op[2])
        print(index, flush=True)
    time.sleep(3600)  # the plan is longer than any kill window; wait to be killed


if __name__ == "__main__":
    main(sys.argv[1])
