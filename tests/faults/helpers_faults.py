"""Helpers of the fault-injection tests: a disk that fills up, a slow upload target, payloads.

A full disk is a small tmpfs mounted over a directory where the process may mount (root);
elsewhere (a container without CAP_SYS_ADMIN) it is RLIMIT_FSIZE, lowered in the process
that writes: every write past the limit fails with EFBIG instead of ENOSPC. Workloads that
fill a disk therefore run in a child process of their own (``run_in_child``).
"""

from __future__ import annotations

import contextlib
import errno
import multiprocessing
import os
import resource
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from fsspec.implementations.local import LocalFileSystem

# the errors a write to a full disk may raise: no space, or the file-size limit of the fallback
FULL_DISK_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
FSIZE_LIMIT = 64 * 1024  # bytes a file may reach while the fallback's "disk" is full


@dataclass
class Disk:
    """A directory whose filesystem a test can fill and free again.

    ``kind`` is ``"tmpfs"`` (a real small filesystem) or ``"RLIMIT_FSIZE"`` (the fallback:
    ``fill`` caps the size of every file the *calling process* writes).
    """

    path: str
    kind: str

    @property
    def _filler(self) -> str:
        return os.path.join(self.path, ".filler")

    def fill(self) -> None:
        if self.kind == "RLIMIT_FSIZE":
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
            hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
            resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE_LIMIT, hard))
            return
        fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for chunk in (b"\0" * 65536, b"\0" * 4096, b"\0"):  # the last pages too
                with contextlib.suppress(OSError):  # ENOSPC: full at this chunk size
                    while os.write(fd, chunk):
                        pass
        finally:
            os.close(fd)

    def free(self) -> None:
        if self.kind == "RLIMIT_FSIZE":
            hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
            resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._filler)


@contextlib.contextmanager
def small_disk(directory: Path, size_mib: int) -> Iterator[Disk]:
    """A tmpfs of ``size_mib`` on ``directory``, or the RLIMIT_FSIZE fallback where mounting
    is not allowed (the reason is printed, and the test runs either way)."""
    directory.mkdir(parents=True, exist_ok=True)
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mib}m,mode=0700", "tmpfs", str(directory)],
        capture_output=True, text=True)
    if mount.returncode != 0 or os.environ.get("TIERFS_FAULTS_NO_MOUNT"):
        if mount.returncode == 0:
            subprocess.run(["umount", str(directory)], check=True)
        print(f"full-disk fallback: cannot mount a tmpfs ({mount.stderr.strip() or 'disabled'});"
              f" files are capped at {FSIZE_LIMIT} bytes by RLIMIT_FSIZE instead (EFBIG)")
        yield Disk(str(directory), "RLIMIT_FSIZE")
        return
    try:
        yield Disk(str(directory), "tmpfs")
    finally:
        # lazily: a block file the child mapped may still be open for a moment
        subprocess.run(["umount", "-l", str(directory)], check=True)


def run_in_child(workload: Callable[..., dict], *args, timeout: float = 120) -> dict:
    """``workload(*args)`` in a spawned process (a lowered RLIMIT_FSIZE stays there); its result."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply_async(workload, args).get(timeout)


class GatedLocalFileSystem(LocalFileSystem):
    """A local upload target whose uploads wait until ``gate`` is set: a slow network, so the
    buffer fills up. The bytes land in real files, which the tests read back."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()

    def put_file(self, lpath, rpath, **kwargs):
        self.gate.wait()
        return super().put_file(lpath, rpath, **kwargs)


def errno_of(error: BaseException) -> int | None:
    """The errno of ``error`` or of the OSError it was raised from."""
    while error is not None:
        if isinstance(error, OSError) and error.errno is not None:
            return error.errno
        error = error.__cause__ or error.__context__
    return None
