"""The exclusive lock on a buffer directory: one process drives a buffer at a time.

An ``fcntl.flock`` on ``buffer_dir/LOCK`` is released by the kernel when its holder dies, so
a SIGKILLed writer never leaves a stale lock behind. The holder's pid is written into the
file for error messages, and emptied on release: a pid found at acquisition means the
previous holder died holding the lock, so requests it had sent may still be landing.
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX (Windows): the rest of tierfs works, write-back does not
    fcntl = None

LOCK_NAME = "LOCK"


class BufferLockedError(RuntimeError):
    """Another process (or another WriteBackBuffer in this one) holds the buffer directory."""


class BufferLock:
    def __init__(self, directory: str | os.PathLike):
        self.path = Path(directory) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock; return True if the previous holder died without releasing it."""
        _require_flock()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"process {holder}" if holder else "another process"
            raise BufferLockedError(
                f"buffer_dir {self.path.parent} is in use by {who}; one process drives a "
                "write-back buffer at a time: stop it, or give this process its own buffer_dir"
            ) from None
        died_holding = _read_pid(fd) is not None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return died_holding

    def forget(self) -> None:
        """Close a descriptor inherited by a forked child; the lock stays with the parent.

        flock belongs to the open file description the child shares with its parent:
        unlocking it here would unlock the parent, closing this copy does not.
        """
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def lock_holder(directory: str | os.PathLike) -> int | None:
    """The pid holding ``directory``'s lock, or None if it is free (for read-only status)."""
    _require_flock()
    path = Path(directory) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd) or -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None


def _require_flock() -> None:
    if fcntl is None:
        raise OSError("write_mode='back' needs flock (the fcntl module, on Linux and macOS): "
                      "its buffer lock must be released by the kernel when a writer dies")
