"""Importable helpers for the Dask engine tests (Dask workers are spawned processes).

``killonce://`` is a local filesystem whose first map-output write SIGKILLs the worker
writing it, halfway through: a map task that dies mid-write and is retried elsewhere.
"""

from __future__ import annotations

import os
import signal

import fsspec
from distributed.diagnostics.plugin import WorkerPlugin
from fsspec.implementations.local import LocalFileSystem

MARKER = "killed-a-mapper"


class KillOnceFileSystem(LocalFileSystem):
    protocol = "killonce"

    def _open(self, path, mode="rb", **kwargs):
        file = super()._open(path, mode, **kwargs)
        if "w" not in mode or "/maps/" not in path:
            return file
        shuffle_dir = path.split("/maps/")[0]  # <parent>/<root>/<shuffle id>
        marker = os.path.join(os.path.dirname(os.path.dirname(shuffle_dir)), MARKER)
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return file
        return _DieAfterFirstWrite(file)


class _DieAfterFirstWrite:
    def __init__(self, file):
        self._file = file

    def write(self, data):
        self._file.write(data[: len(data) // 2])
        self._file.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    def __getattr__(self, name):
        return getattr(self._file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._file.close()


def register() -> None:
    fsspec.register_implementation("killonce", KillOnceFileSystem, clobber=True)


class RegisterKillOnce(WorkerPlugin):
    """Registers ``killonce://`` in every worker, including ones restarted after a kill."""

    def setup(self, worker) -> None:
        register()
