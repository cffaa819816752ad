"""A storage target: one fsspec filesystem and root that holds fragments and manifests.

Each target keeps ``meta/<logical path>`` (manifest copies, mirroring the logical tree)
and ``data/<file id>.<index>`` (fragment objects). A target that just failed is marked
down for a while, so readers go straight to reconstruction instead of waiting on it again;
it is still tried when nothing else can serve.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from typing import TypeVar

import fsspec
from fsspec.implementations.local import LocalFileSystem

logger = logging.getLogger(__name__)

DOWN_SECONDS = 30.0
_T = TypeVar("_T")
_R = TypeVar("_R")


class Target:
    def __init__(self, url: str, options: dict, down_seconds: float = DOWN_SECONDS):
        self.url = url.rstrip("/")
        # a deep copy: s3fs edits nested option dicts, which would change fsspec's instance
        # cache key and cost every later filesystem a new client
        options = copy.deepcopy(options)
        protocol = fsspec.core.split_protocol(self.url)[0] or "file"
        if protocol in ("file", "local"):
            options.setdefault("auto_mkdir", True)  # object stores have no directories to make
        self.fs, self.root = fsspec.core.url_to_fs(self.url, **options)
        self.root = self.root.rstrip("/")
        self.down_seconds = down_seconds
        self._down_until = 0.0

    def __repr__(self) -> str:
        return f"Target({self.url!r})"

    def meta_path(self, path: str) -> str:
        return f"{self.root}/meta/{path}" if path else f"{self.root}/meta"

    def data_path(self, name: str) -> str:
        return f"{self.root}/data/{name}"

    def logical_path(self, meta_path: str) -> str:
        """The logical path of one of this target's ``meta/`` entries."""
        prefix = f"{self.root}/meta/"
        return meta_path[meta_path.index(prefix) + len(prefix) :].strip("/")

    def make_durable(self, path: str) -> None:
        """fsync a file just written to a local target; object stores are durable on PUT."""
        if isinstance(self.fs, LocalFileSystem):
            with open(path, "rb+") as handle:
                os.fsync(handle.fileno())

    def remove_manifest(self, path: str) -> None:
        """Delete a manifest copy; on a local target also the directories it leaves empty."""
        meta = self.meta_path(path)
        self.fs.rm_file(meta)
        if isinstance(self.fs, LocalFileSystem):
            parent, top = os.path.dirname(meta), self.meta_path("")
            while parent != top:
                try:
                    os.rmdir(parent)
                except OSError:
                    break  # not empty: another file lives here
                parent = os.path.dirname(parent)

    @property
    def is_down(self) -> bool:
        return time.monotonic() < self._down_until

    def mark_down(self, error: BaseException) -> None:
        if not self.is_down:
            logger.warning("ecfs: target %s failed (%s); avoiding it for %.0fs",
                           self.url, error, self.down_seconds)
        self._down_until = time.monotonic() + self.down_seconds

    def mark_up(self) -> None:
        self._down_until = 0.0


def is_missing(error: BaseException) -> bool:
    """A missing object is an answer, not a failure of the target (a directory is no file)."""
    return isinstance(error, FileNotFoundError | IsADirectoryError | NotADirectoryError)


def call_on_targets(
    pool: Executor, call: Callable[[_T], _R], items: Iterable[_T]
) -> list[tuple[_T, _R | None, BaseException | None]]:
    """Run ``call`` on every item concurrently; return (item, result, error) in item order."""
    items = list(items)
    futures = [pool.submit(call, item) for item in items]
    outcomes = []
    for item, future in zip(items, futures, strict=True):
        try:
            outcomes.append((item, future.result(), None))
        except Exception as error:  # noqa: BLE001 - each target's failure is reported, not raised
            outcomes.append((item, None, error))
    return outcomes
