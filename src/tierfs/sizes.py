"""Parsing of human-readable sizes ("512MiB", "2 GB", 4096), in one place for every config key."""

from __future__ import annotations

import re

_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3, "kb": 10**3, "kib": 2**10,
    "m": 10**6, "mb": 10**6, "mib": 2**20,
    "g": 10**9, "gb": 10**9, "gib": 2**30,
    "t": 10**12, "tb": 10**12, "tib": 2**40,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(value: int | str, setting: str) -> int:
    """Return ``value`` in bytes; raise ``ValueError`` naming ``setting`` if it is not a size.

    Integers are bytes. Strings take decimal (kB, MB, GB) or binary (KiB, MiB, GiB) units.
    Negative sizes are rejected: a capacity or a block size is never below zero.
    """
    if isinstance(value, bool):
        raise ValueError(f"{setting}: expected a size such as 4096 or '512MiB', got {value!r}")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str):
        match = _SIZE.match(value)
        unit = match.group(2).lower() if match else None
        if match is None or unit not in _UNITS:
            raise ValueError(
                f"{setting}: cannot parse {value!r} as a size; use bytes or a unit such as "
                "'64KiB', '512MiB', '2GiB'"
            )
        try:
            size = int(float(match.group(1)) * _UNITS[unit])
        except OverflowError:  # more digits than a float holds
            raise ValueError(f"{setting}: {value!r} is too large a size") from None
    else:
        raise ValueError(f"{setting}: expected a size such as 4096 or '512MiB', got {value!r}")
    if size < 0:
        raise ValueError(f"{setting}: a size cannot be negative, got {value!r}")
    return size
