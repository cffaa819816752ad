"""Where map outputs live: node-local files, or any fsspec filesystem (S3, tierfs::s3, ecfs...).

Both offer what the file-based shuffle needs and nothing more: stream an object out,
create a small object only if it does not exist (the commit), read many byte ranges in
bounded chunks (concurrently on object stores, with the next batch fetched while the
current one is decoded), list and delete. How bytes move to and from a store is
``transfers``' choice (obstore on S3).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import fsspec

from tierfs.private_paths import FILE_MODE, private_directory
from tierfs.shuffle.errors import CorruptShuffleBlockError
from tierfs.shuffle.transfers import transfers_for

_RANGE_PIECE = 8 * 2**20  # a longer range is fetched in pieces of this size
_BATCH_BYTES = 64 * 2**20  # bytes in flight per batch of concurrent ranged reads
_BATCH_RANGES = 64


class LocalStorage:
    """Files under a local directory; the commit is an atomic ``link``."""

    def __init__(self, root: str):
        self.root = os.path.abspath(os.path.expanduser(root))
        self.url = f"local://{self.root}"

    def join(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    def write_object(self, path: str, parts: Iterable, size: int) -> None:
        """Write ``parts`` in order as the object ``path``; ``size`` (about their bytes) lets
        a store choose how to send them, a local file needs no choice."""
        private_directory(os.path.dirname(path))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with open(fd, "wb", buffering=2**20) as file:  # headers and small blocks, coalesced
            for part in parts:
                file.write(part)

    def create_exclusive(self, path: str, data: bytes) -> bool:
        private_directory(os.path.dirname(path))
        staged = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        with open(os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), "wb") as file:
            file.write(data)
        try:
            os.link(staged, path)
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(staged)

    def read_file(self, path: str) -> bytes:
        with open(path, "rb") as file:
            return file.read()

    def read_files(self, paths: list[str]) -> list[bytes]:
        return [self.read_file(path) for path in paths]

    def read_ranges(self, requests: list[tuple[str, int, int]]) -> Iterator[tuple[int, bytes]]:
        for index, (path, start, end) in enumerate(requests):
            if start == end:
                continue
            with open(path, "rb", buffering=0) as file:
                for offset in range(start, end, _RANGE_PIECE):
                    want = min(_RANGE_PIECE, end - offset)
                    chunk = os.pread(file.fileno(), want, offset)
                    if len(chunk) != want:
                        raise CorruptShuffleBlockError(
                            f"{path} is shorter than its commit record says")
                    yield index, chunk

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(path))
        except FileNotFoundError:
            return []

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def delete(self, path: str) -> None:
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def disk_usage(self, path: str) -> int:
        return sum(os.path.getsize(os.path.join(folder, name))
                   for folder, _, names in os.walk(path) for name in names)


class FsspecStorage:
    """Objects under a prefix of an fsspec filesystem; the commit is ``pipe(mode="create")``.

    The create is atomic where the store makes it so (S3 ``If-None-Match``, local files);
    on a store that ignores the mode the winner is whoever's record is read back.
    """

    def __init__(self, url: str, storage_options: dict):
        if fsspec.utils.get_protocol(url) in ("file", "local"):
            storage_options = {"auto_mkdir": True} | storage_options  # outputs in new folders
        self.fs, root = fsspec.core.url_to_fs(url, **storage_options)
        self.root = root.rstrip("/")
        self.url = url
        self.transfers = transfers_for(self.fs)

    def join(self, *parts: str) -> str:
        return "/".join((self.root, *parts))

    def write_object(self, path: str, parts: Iterable, size: int) -> None:
        self.transfers.put(path, parts, size)

    def create_exclusive(self, path: str, data: bytes) -> bool:
        if self.fs.exists(path):
            return False
        try:
            self.fs.pipe_file(path, data, mode="create")
        except FileExistsError:
            return False
        except OSError:
            if not self.fs.exists(path):
                raise
            return False  # S3 answers a lost race with 412 Precondition Failed
        return self.fs.cat_file(path) == data

    def read_file(self, path: str) -> bytes:
        return self.fs.cat_file(path)

    def read_files(self, paths: list[str]) -> list[bytes]:
        if not paths:
            return []
        results = self.fs.cat_ranges(paths, [None] * len(paths), [None] * len(paths))
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results

    def read_ranges(self, requests: list[tuple[str, int, int]]) -> Iterator[tuple[int, bytes]]:
        batches = list(_batches(requests))
        if not batches:
            return
        with ThreadPoolExecutor(1, thread_name_prefix="tierfs-shuffle-read") as prefetch:
            pending = prefetch.submit(self._fetch, batches[0])
            for following in [*batches[1:], None]:
                batch, results = pending.result()
                if following is not None:
                    pending = prefetch.submit(self._fetch, following)
                for (index, path, start, end), chunk in zip(batch, results, strict=True):
                    if isinstance(chunk, BaseException):
                        raise chunk
                    if len(chunk) != end - start:
                        raise CorruptShuffleBlockError(
                            f"{path} is shorter than its commit record says")
                    yield index, chunk

    def _fetch(self, batch: list[tuple[int, str, int, int]]) -> tuple[list, list]:
        paths, starts, ends = ([piece[i] for piece in batch] for i in (1, 2, 3))
        return batch, self.transfers.cat_ranges(paths, starts, ends)

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(entry.rstrip("/").rsplit("/", 1)[-1]
                          for entry in self.fs.ls(path, detail=False, refresh=True))
        except FileNotFoundError:
            return []

    def exists(self, path: str) -> bool:
        return self.fs.exists(path)

    def delete(self, path: str) -> None:
        try:
            self.fs.rm(path, recursive=True)
        except FileNotFoundError:
            pass

    def disk_usage(self, path: str) -> int:
        try:
            return self.fs.du(path, total=True)
        except FileNotFoundError:
            return 0


def _batches(requests: list[tuple[str, int, int]]) -> Iterator[list[tuple[int, str, int, int]]]:
    """Ranged reads cut into pieces and grouped so each batch moves a bounded number of bytes."""
    batch, size = [], 0
    for index, (path, start, end) in enumerate(requests):
        for offset in range(start, end, _RANGE_PIECE):
            piece_end = min(offset + _RANGE_PIECE, end)
            if batch and (size + piece_end - offset > _BATCH_BYTES
                          or len(batch) >= _BATCH_RANGES):
                yield batch
                batch, size = [], 0
            batch.append((index, path, offset, piece_end))
            size += piece_end - offset
    if batch:
        yield batch
