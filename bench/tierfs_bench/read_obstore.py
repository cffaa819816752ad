"""The raw obstore baseline of the read benchmark: Rust's object_store, no cache, no fsspec.

What a user who only wants cold speed would write: a file read front to back is one
streaming GET (``obstore.get``), a random read one ranged GET, a ``cat`` of many files
concurrent GETs. The store is built from the same s3fs options tierfs translates.
"""

from __future__ import annotations

import asyncio
import io

import obstore
from obstore.store import S3Store

from tierfs.cache import translate_s3_options
from tierfs_bench.read_data import DataSet
from tierfs_bench.read_variants import SEQUENTIAL, Reader


class ObstoreFile(io.RawIOBase):
    """``key`` of ``size`` bytes: streamed by one GET from where reading starts, or (not
    ``streaming``) one ranged GET per read."""

    def __init__(self, store: S3Store, key: str, size: int, *, streaming: bool):
        super().__init__()
        self._store, self._key, self._size = store, key, size
        self._streaming = streaming
        self._pos = 0
        self._chunks = None  # the streaming GET's chunks, from the first read on
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        position = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if position + offset != self._pos:  # a stream only goes forward
            self._chunks, self._pending = None, memoryview(b"")
        self._pos = position + offset
        return self._pos

    def readinto(self, view) -> int:
        view = memoryview(view).cast("B")
        want = max(0, min(len(view), self._size - self._pos))
        if want and not self._streaming:
            view[:want] = obstore.get_range(self._store, self._key, start=self._pos,
                                            length=want)
        done = 0 if self._streaming else want
        while done < want:
            if not self._pending:
                self._pending = memoryview(next(self._stream()))
            count = min(want - done, len(self._pending))
            view[done:done + count] = self._pending[:count]
            self._pending = self._pending[count:]
            done += count
        self._pos += want
        return want

    def readall(self) -> bytes:
        data = bytearray(self._size - self._pos)
        self.readinto(data)
        return bytes(data)

    def _stream(self):
        if self._chunks is None:
            options = {"range": {"offset": self._pos}} if self._pos else None
            self._chunks = iter(obstore.get(self._store, self._key, options=options).stream())
        return self._chunks


class ObstoreReader(Reader):
    name = "obstore"

    def __init__(self, dataset: DataSet, storage_options: dict):
        self.dataset = dataset
        self._config, self._client = translate_s3_options(storage_options)
        self._stores: dict[str, S3Store] = {}

    def _locate(self, path: str) -> tuple[S3Store, str]:
        bucket, key = path.split("/", 1)
        if bucket not in self._stores:
            self._stores[bucket] = S3Store(bucket, config=self._config,
                                           client_options=self._client)
        return self._stores[bucket], key

    def open_large(self, index: int, access: str) -> ObstoreFile:
        return ObstoreFile(*self._locate(self.dataset.large[index]),
                           self.dataset.spec.large_size, streaming=access == SEQUENTIAL)

    def open_small(self, index: int) -> ObstoreFile:
        return ObstoreFile(*self._locate(self.dataset.small[index]),
                           self.dataset.spec.small_size, streaming=False)

    def cat_small(self) -> int:
        size = self.dataset.spec.small_size

        async def every_file() -> list:
            return await asyncio.gather(*(
                obstore.get_range_async(*self._locate(path), start=0, length=size)
                for path in self.dataset.small))

        return sum(map(len, asyncio.run(every_file())))

    def prime(self) -> None:
        obstore.head(*self._locate(self.dataset.prime_path))
