"""Directories and files that only their user may read: caches, buffers, shuffle data.

Cached blocks and buffered writes are other people's data; under the usual umask (022)
a plain ``mkdir`` or ``open`` would make them world-readable. Other local users reach a
daemon's cache through the descriptors it passes, never through file permissions.
"""

from __future__ import annotations

import os
from pathlib import Path

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


def private_directory(path: str | os.PathLike) -> Path:
    """Create ``path`` and its missing parents as 0700; an existing one we own becomes 0700."""
    path = Path(path).expanduser()
    missing = []
    for parent in (path, *path.parents):
        if parent.exists():
            break
        missing.append(parent)
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIRECTORY_MODE)
        except FileExistsError:  # made meanwhile by another process
            pass
    if path.stat().st_uid == os.geteuid():
        os.chmod(path, DIRECTORY_MODE)
    return path


def private_file(path: str | os.PathLike) -> Path:
    """Create ``path`` empty as 0600 if missing (e.g. before SQLite opens it, so that its
    journal files take the same mode); an existing one we own becomes 0600."""
    path = Path(path)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE))
    if path.stat().st_uid == os.geteuid():
        os.chmod(path, FILE_MODE)
    return path
