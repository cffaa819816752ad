"""The file object ``TierFileSystem.open(path, "rb")`` returns.

Reads copy straight from cached blocks into the caller's buffer (``readinto``) or into
the one result ``bytes`` (``read``); nothing else is copied. A reader that keeps reading
where it stopped is sequential: it asks for a read-ahead window of blocks that grows
with each sequential read, so the next blocks are already in flight when it gets there.
"""

from __future__ import annotations

import io

from tierfs.cache import BlockSource, ObjectRef


class TieredReadFile(io.RawIOBase):
    def __init__(self, fs, source: BlockSource, obj: ObjectRef, path: str,
                 prefetch_blocks: int):
        super().__init__()
        self.fs = fs
        self.path = path
        self.obj = obj
        self.size = obj.size
        self.mode = "rb"
        self._source = source
        self._loc = 0
        self._last_end = 0
        self._window = 0
        self._max_window = prefetch_blocks
        self._prefetched_to = 0  # blocks below this index were already requested

    @property
    def name(self) -> str:
        return self.path

    @property
    def loc(self) -> int:
        return self._loc

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._loc

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._checkClosed()
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._loc, io.SEEK_END: self.size}.get(whence)
        if base is None:
            raise ValueError(f"seek: invalid whence {whence!r}")
        if base + offset < 0:
            raise ValueError(f"seek: negative position {base + offset}")
        self._loc = base + offset
        return self._loc

    def _views(self, length: int) -> list[memoryview]:
        self._checkClosed()
        start = self._loc
        end = min(self.size, start + max(length, 0))
        if end <= start:
            return []
        self._read_ahead(start, end)
        views = self._source.read(self.obj, start, end)
        self._loc = end
        return views

    def _read_ahead(self, start: int, end: int) -> None:
        """Grow the window on sequential reads and request the blocks after this read."""
        sequential = start == self._last_end
        self._last_end = end
        if not sequential or self._max_window <= 0:
            self._window = 0
            return
        self._window = min(self._max_window, max(2, self._window * 2))
        block_size = self._source.block_size
        after = -(-end // block_size)
        first = max(after, self._prefetched_to)
        last = after + self._window
        if last > first:
            self._source.prefetch(self.obj, first, last - first)
            self._prefetched_to = last

    def read(self, size: int = -1) -> bytes:
        length = self.size - self._loc if size is None or size < 0 else size
        views = self._views(length)
        return bytes(views[0]) if len(views) == 1 else b"".join(views)

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer) -> int:
        target = memoryview(buffer).cast("B")
        offset = 0
        for view in self._views(len(target)):
            target[offset:offset + len(view)] = view
            offset += len(view)
        return offset

    def info(self) -> dict:
        return self.fs.info(self.path)

    def __repr__(self) -> str:
        return f"<TieredReadFile {self.path!r} size={self.size}>"
