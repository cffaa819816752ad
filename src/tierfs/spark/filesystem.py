"""The tierfs filesystem of one Spark Python worker, built from the options and kept per process.

Spark reuses its Python workers, so a worker keeps its tiers and open connections from task
to task. Write-back buffers are locked by one process each: a worker takes the first free
``slot-N`` directory under ``buffer_dir``, so a restarted worker replays a dead one's journal.
"""

from __future__ import annotations

import json
import os
import posixpath
import threading

import fsspec
from fsspec.core import has_magic

from tierfs.spark.options import SourceOptions
from tierfs.writeback.lock import BufferLockedError

_MAX_BUFFER_SLOTS = 256
_lock = threading.Lock()
_filesystems: dict[tuple[int, str], fsspec.AbstractFileSystem] = {}


def filesystem_for(options: SourceOptions) -> fsspec.AbstractFileSystem:
    """This process's tierfs filesystem for ``options`` (built on first use)."""
    kwargs = options.filesystem_kwargs()
    # the pid: a filesystem inherited through fork holds threads that did not survive it
    key = (os.getpid(), json.dumps([kwargs, options.buffer_dir], sort_keys=True, default=str))
    with _lock:
        if key not in _filesystems:
            _filesystems[key] = _build(kwargs, options.buffer_dir)
        return _filesystems[key]


def _build(kwargs: dict, buffer_dir: str | None) -> fsspec.AbstractFileSystem:
    if buffer_dir is None:
        return fsspec.filesystem("tierfs", skip_instance_cache=True, **kwargs)
    for slot in range(_MAX_BUFFER_SLOTS):
        try:
            return fsspec.filesystem("tierfs", skip_instance_cache=True, **kwargs,
                                     buffer_dir=os.path.join(buffer_dir, f"slot-{slot}"))
        except BufferLockedError:
            continue
    raise ValueError(f"buffer_dir: all {_MAX_BUFFER_SLOTS} slots are held by live processes")


def is_hidden(relative: str) -> bool:
    """Spark's rule: names starting with _ or . (_SUCCESS, _temporary) are not data."""
    return any(part.startswith(("_", ".")) for part in relative.split("/"))


def data_files(fs: fsspec.AbstractFileSystem, path: str) -> list[dict]:
    """``info`` of every data file at ``path`` (a file, a directory tree or a glob), sorted."""
    if has_magic(path):
        found = fs.glob(path, detail=True)
        entries = [e for e in found.values() if e["type"] == "file"]
    elif fs.isfile(path):
        entries = [fs.info(path)]
    else:
        found = fs.find(path, detail=True)
        entries = [entry for name, entry in found.items() if entry["type"] == "file"
                   and not is_hidden(posixpath.relpath(name, path))]
    if not entries:
        raise FileNotFoundError(f"no data files at {path!r}")
    return sorted(entries, key=lambda entry: entry["name"])
