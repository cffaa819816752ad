"""The file object ``TierFileSystem.open(path, "rb")`` returns.

Reads copy straight from cached blocks into the caller's buffer (``readinto``) or into
the one result ``bytes`` (``read``: filled in place across blocks; within one, a tier that
read the range into new ``bytes`` hands over that object); nothing else is copied. A
reader that keeps reading where it stopped is sequential: it asks for a read-ahead window
of blocks that grows with each sequential read, so the next blocks are already in flight
when it gets there. A read of blocks the fastest tier holds is served by their resident
views once one read of them went the long way (``tierfs.cache.resident``).
"""

from __future__ import annotations

import io

from tierfs.cache import BlockSource, ObjectRef
from tierfs.fresh_bytes import filled_bytes


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
        self._block_size = source.block_size
        self._counters = source.counters
        self._hits = source.counters.tally()  # the hits of resident views (see ``stats``)
        self._resident = source.resident_table(obj)
        source.opening(obj)
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

    def close(self) -> None:
        if not self.closed:
            self._counters.retire(self._hits)
        super().close()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._loc

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._checkClosed()
        if whence == io.SEEK_SET:
            base = 0
        elif whence == io.SEEK_CUR:
            base = self._loc
        elif whence == io.SEEK_END:
            base = self.size
        else:
            raise ValueError(f"seek: invalid whence {whence!r}")
        if base + offset < 0:
            raise ValueError(f"seek: negative position {base + offset}")
        self._loc = base + offset
        return self._loc

    def _claim(self, length: int) -> tuple[int, int]:
        """The range the next read covers; moves the position and plans read-ahead."""
        self._checkClosed()
        start = self._loc
        end = start + length
        if end > self.size:
            end = self.size
        if end <= start:
            return start, start
        if start == self._last_end:
            self._read_ahead(end)
        else:
            self._window = 0
        self._last_end = self._loc = end
        return start, end

    def _read_ahead(self, end: int) -> None:
        """A sequential read: grow the window and request the blocks after this read."""
        if self._max_window <= 0:
            return
        self._window = min(self._max_window, max(2, self._window * 2))
        block_size = self._source.block_size
        after = -(-end // block_size)
        if self._prefetched_to - after > self._window // 2:
            return  # top up once half the window is read, as Linux's readahead does:
            # each request checks the tiers for every block it names (a stat each)
        first = max(after, self._prefetched_to)
        last = after + self._window
        if last > first:
            self._source.prefetch(self.obj, first, last - first)
            self._prefetched_to = last

    def read(self, size: int = -1) -> bytes:
        start, end = self._claim(self.size - self._loc if size is None or size < 0 else size)
        if end - start > self._block_size - start % self._block_size:  # across blocks
            return filled_bytes(end - start, lambda dest: self._read_into(start, end, dest))
        view = self._resident.read(start, end, None, self._hits)
        if view is not None:
            return _as_bytes(view)
        if end == start:
            return b""
        data = _as_bytes(self._source.read_many([(self.obj, start, end)])[0][0])
        self._resident.refresh(start, end)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer) -> int:
        target = memoryview(buffer).cast("B")
        start, end = self._claim(len(target))
        if end - start < len(target):
            target = target[:end - start]
        if self._resident.read(start, end, target, self._hits) is not None:
            return end - start
        if end > start:
            self._source.read_many([(self.obj, start, end)], [target])
            self._resident.refresh(start, end)
        return end - start

    def _read_into(self, start: int, end: int, dest: memoryview) -> None:
        """``readinto``'s copy of ``[start, end)``, for ``read`` across blocks (``readinto``
        keeps its own: the warm hot path, one call fewer)."""
        if self._resident.read(start, end, dest, self._hits) is None:
            self._source.read_many([(self.obj, start, end)], [dest])
            self._resident.refresh(start, end)

    def info(self) -> dict:
        return self.fs.info(self.path)

    def __repr__(self) -> str:
        return f"<TieredReadFile {self.path!r} size={self.size}>"


def _as_bytes(view: memoryview) -> bytes:
    """The bytes of ``view``: the object under it when it covers all of an immutable one."""
    whole = view.obj
    if type(whole) is bytes and view.nbytes == len(whole):
        return whole
    return bytes(view)
