"""A map task run as its own process, stopped mid-write by SIGKILL in the tests.

Usage: python -m tests.shuffle.killed_mapper URL OPTIONS_JSON SHUFFLE_ID MAP_ID ATTEMPT
It writes half of its output (spilled or pushed), says "halfway" and waits to be killed.
"""

from __future__ import annotations

import json
import sys
import time

import tierfs.shuffle


def payload(map_id: int, attempt: int, index: int) -> bytes:
    return f"[{map_id}.{attempt}.{index:05d}]".encode() * 40


def main(url: str, options: str, shuffle_id: str, map_id: str, attempt: str) -> None:
    service = tierfs.shuffle.open_service(url, **json.loads(options))
    writer = service.get(shuffle_id).map_writer(int(map_id), int(attempt))
    for index in range(2000):
        writer.write(index % 3, payload(int(map_id), int(attempt), index))
    print("halfway", flush=True)
    time.sleep(600)


if __name__ == "__main__":
    main(*sys.argv[1:])
