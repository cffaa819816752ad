"""A client of the daemon running as another user (``nobody``), for the descriptor tests.

The tests run as root, and the venv's Python lives where ``nobody`` cannot enter, so
the client is forked: everything it imports is loaded (and the s3 client built) as
root, then it drops to ``nobody`` before it builds its tierfs filesystem and reads.
"""

from __future__ import annotations

import os

import fsspec

NOBODY = 65534


def become_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def read_as_nobody(storage_options: dict, daemon: str, path: str,
                   ranges: list[tuple[int, int]], results, done) -> None:
    """Read ``ranges`` of ``path`` through the daemon as ``nobody``; put what happened,
    then stay (its hit reports still to be sent) until ``done`` is set."""
    try:
        s3 = fsspec.filesystem("s3", **storage_options)  # built as root, reused below
        s3.info(path)
        warm = fsspec.filesystem("tierfs", target_protocol="s3", skip_instance_cache=True,
                                 target_options=storage_options, daemon=daemon,
                                 short_circuit=False)
        warm.cat_file(path, 0, 1)  # loads every module the client needs while root
        become_nobody()
        fs = fsspec.filesystem("tierfs", target_protocol="s3", skip_instance_cache=True,
                               target_options=storage_options, daemon=daemon)
        tiers = [type(tier).__name__ for tier in fs.cache.tiers]
        with fs.open(path, "rb") as file:
            pieces = []
            for start, end in ranges:
                file.seek(start)
                pieces.append(file.read(end - start))
        results.put({"uid": os.getuid(), "tiers": tiers, "pieces": pieces,
                     "stats": fs.cache_stats()})
        done.wait(60)
    except BaseException as error:  # noqa: BLE001 - reported to the test, which fails on it
        results.put({"error": repr(error)})
