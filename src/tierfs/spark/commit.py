"""The commit protocol of a write job, on the filesystem alone (no Spark in here).

Tasks write into ``<path>/_temporary/<job>/``; the job's commit moves their files into
``<path>`` (after removing the old contents, for an overwrite) and writes ``_SUCCESS``;
an abort removes the job's staging directory. Readers skip ``_``-names, so staged files
are never read as data.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass

from pyspark.sql.datasource import WriterCommitMessage

from tierfs.fs import TierFileSystem

STAGING = "_temporary"
SUCCESS = "_SUCCESS"


@dataclass(frozen=True)
class StagedFile(WriterCommitMessage):
    """A task's output: where it was staged, the name it takes on commit, its rows."""

    staged: str
    name: str
    rows: int


def staging_dir(path: str, job: str) -> str:
    return posixpath.join(path, STAGING, job)


def has_data(fs: TierFileSystem, path: str) -> bool:
    """Whether ``path`` holds any file outside the staging area (what ``errorifexists`` asks)."""
    try:
        found = fs.find(path)
    except FileNotFoundError:
        return False
    return any(posixpath.relpath(name, path).split("/")[0] != STAGING for name in found)


def commit_job(fs: TierFileSystem, path: str, job: str, staged: Iterable[StagedFile],
               overwrite: bool) -> None:
    """Make the staged files visible under ``path``, then mark the job done."""
    if overwrite:
        _remove_contents(fs, path)
    for output in staged:
        fs.mv(output.staged, posixpath.join(path, output.name))
    fs.pipe_file(posixpath.join(path, SUCCESS), b"")
    _remove_staging(fs, path, job)
    fs.wait_flushed()  # with write_mode="back": visible to every reader when the job ends


def abort_job(fs: TierFileSystem, path: str, job: str) -> None:
    """Leave nothing of the job: its staged files, and the staging area if no job uses it."""
    _remove_staging(fs, path, job)
    fs.wait_flushed()


def _remove_staging(fs: TierFileSystem, path: str, job: str) -> None:
    _remove_tree(fs, staging_dir(path, job))
    area = posixpath.join(path, STAGING)
    try:
        if not fs.find(area):
            _remove_tree(fs, area)
    except FileNotFoundError:
        pass


def _remove_contents(fs: TierFileSystem, path: str) -> None:
    try:
        entries = fs.ls(path, detail=False)
    except FileNotFoundError:
        return
    for name in entries:
        if posixpath.basename(name.rstrip("/")) != STAGING:
            fs.rm(name, recursive=True)


def _remove_tree(fs: TierFileSystem, path: str) -> None:
    try:
        fs.rm(path, recursive=True)
    except FileNotFoundError:
        pass

