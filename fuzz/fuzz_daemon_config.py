"""Fuzz the daemon's TOML configuration file: any bytes are a configuration or raise
``ValueError``. Tier directories a configuration names are created, so the target runs in
a scratch directory and skips configurations naming paths outside it."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import tomllib

import atheris

with atheris.instrument_imports():
    from tierfs_server.config import load_config

SANDBOX = tempfile.mkdtemp(prefix="fuzz-config-")
atexit.register(shutil.rmtree, SANDBOX, True)
os.chdir(SANDBOX)
tempfile.tempdir = SANDBOX  # where tiers without a path get theirs
with open("token", "w") as file:
    file.write("a-token-of-at-least-16-chars\n")


def _strings(value) -> list[str]:
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in (str(key), *_strings(item))]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [value] if isinstance(value, str) else []


def _stays_in_sandbox(data: bytes) -> bool:
    try:
        parsed = tomllib.loads(data.decode())
    except (ValueError, RecursionError):
        return True  # never gets as far as a path
    return not any(s.startswith(("/", "~")) or ".." in s or "\0" in s
                   for s in _strings(parsed))


def test_one_input(data: bytes) -> None:
    if not _stays_in_sandbox(data):
        return
    with open("fuzzed.toml", "wb") as file:
        file.write(data)
    try:
        load_config("fuzzed.toml")
    except ValueError:
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
