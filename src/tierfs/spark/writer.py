"""The write side: each task stages one file, the driver commits or aborts the job.

Tasks run in Python workers and write through their own tierfs filesystem; with
``write_mode="back"`` a task waits until its file is in the store before it reports,
because the commit runs in another process and moves what the store holds.
"""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Iterator

import pyarrow as pa
from pyspark import TaskContext
from pyspark.sql.datasource import DataSourceArrowWriter, WriterCommitMessage

from tierfs.spark.commit import StagedFile, abort_job, commit_job, staging_dir
from tierfs.spark.filesystem import filesystem_for
from tierfs.spark.options import SourceOptions
from tierfs.spark.output import EXTENSIONS, write_batches

# what a task with no rows reports (Spark requires a message from every task)
NOTHING_WRITTEN = WriterCommitMessage()


class TierWriter(DataSourceArrowWriter):
    def __init__(self, options: SourceOptions, overwrite: bool):
        self.options = options
        self.overwrite = overwrite
        self.job = uuid.uuid4().hex

    def write(self, iterator: Iterator[pa.RecordBatch]) -> WriterCommitMessage:
        first = next(iterator, None)
        if first is None:
            return NOTHING_WRITTEN
        fs = filesystem_for(self.options)
        name = f"part-{_task_name()}-{self.job[:12]}{EXTENSIONS[self.options.format]}"
        staged = posixpath.join(staging_dir(self.options.path, self.job), name)
        try:
            with fs.open(staged, "wb") as file:
                rows = write_batches(file, first, iterator, self.options.format,
                                     self.options.csv)
        except BaseException:
            _discard(fs, staged)
            raise
        fs.wait_flushed()
        return StagedFile(staged, name, rows)

    def commit(self, messages: list[WriterCommitMessage | None]) -> None:
        staged = [message for message in messages if isinstance(message, StagedFile)]
        commit_job(filesystem_for(self.options), self.options.path, self.job, staged,
                   self.overwrite)

    def abort(self, messages: list[WriterCommitMessage | None]) -> None:
        abort_job(filesystem_for(self.options), self.options.path, self.job)


class IgnoringWriter(DataSourceArrowWriter):
    """``save_mode="ignore"`` over existing data: the job runs and writes nothing."""

    def write(self, iterator: Iterator[pa.RecordBatch]) -> WriterCommitMessage:
        for _ in iterator:
            pass
        return NOTHING_WRITTEN


def _task_name() -> str:
    context = TaskContext.get()
    if context is None:
        return uuid.uuid4().hex[:8]
    return f"{context.partitionId():05d}-{context.attemptNumber()}"


def _discard(fs, path: str) -> None:
    """A failed task's partial file (a closed S3 upload is complete, so remove it)."""
    try:
        fs.rm(path)
    except FileNotFoundError:
        pass
