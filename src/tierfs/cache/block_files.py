"""Reading the block files of one tier directory: verified ranges, reused open handles.

Used by the ``DirectoryTier`` that owns a directory and by clients of the daemon that
read its directories directly (short-circuit reads). The bytes behind a key never change
(keys carry the object version), so an open handle is as good as a fresh open; a handle
whose file was unlinked is retired when next touched, and handles are reference-counted
so none is closed while another thread is still reading through it (except by the hot
path of checked ranges, which takes no lock and checks the file's state after reading).

Verification is remembered per *state* of a file: its inode, size, mtime and ctime, which
an ``fstat`` before every read compares. A chunk's checksum is checked the first time this
process reads it from that state; later reads of checked chunks are one ``preadv`` of
exactly the range asked for, straight into the caller's buffer, as a local file read is.
Any write to the file, a truncation or a replacement changes its state and so forgets
what was checked. (Hashing whole chunks on every read made a warm 64 KiB read five times
slower than a local ``pread``.) What this cannot see is a disk returning other bytes for
a page the kernel drops and reads again with no write in between; JuiceFS's default
``verify-cache-checksum=full`` does not check partial reads at all.

Lock order: ``self._lock`` is a leaf; it guards the handle table, the reference counts
and the table of known states.
"""

from __future__ import annotations

import os
import resource
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from tierfs.cache.block_format import BlockHeader, CorruptBlock
from tierfs.cache.block_key import is_block_key

HEADER_READ = 4096  # block_format keeps every header within one page
_KNOWN_STATES = 4096  # parsed headers and checked chunks kept, open handle or not


def default_handle_budget() -> int:
    """Descriptors one directory keeps open: enough that a data set of a few hundred blocks
    read at random reopens nothing, at most an eighth of this process's file limit."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(8, min(256, soft // 8)) if soft != resource.RLIM_INFINITY else 256


def _state_of(fd: int) -> tuple[int, int, int, int] | None:
    """What any write, truncation or replacement of the file changes; None once unlinked."""
    st = os.fstat(fd)
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns) if st.st_nlink else None


class _Known:
    """One state of one block file as this process knows it: header, chunks checked."""

    __slots__ = ("state", "header", "checked")

    def __init__(self, state: tuple, header: BlockHeader):
        # ``checked`` is a bitmask of chunk indexes; a racing ``|=`` may lose a bit, which
        # only means that chunk is hashed once more
        self.state, self.header, self.checked = state, header, 0


class _Handle:
    __slots__ = ("fd", "known", "refs", "retired")

    def __init__(self, fd: int, known: _Known):
        self.fd, self.known, self.refs, self.retired = fd, known, 0, False


class BlockFiles:
    def __init__(self, blocks_dir: Path, on_corrupt: Callable[[str, CorruptBlock], None],
                 max_handles: int | None = None):
        self.blocks_dir = blocks_dir
        self._dir = os.fspath(blocks_dir)
        self._on_corrupt = on_corrupt
        self._max_handles = max_handles or default_handle_budget()
        self._start_process_state()
        this = weakref.ref(self)
        # the parent's table belongs to the parent (and its lock may be held at the fork)
        os.register_at_fork(after_in_child=lambda: (files := this()) and
                            files._start_process_state())

    def _start_process_state(self) -> None:
        self._lock = threading.Lock()
        self._handles: OrderedDict[str, _Handle] = OrderedDict()
        self._known: OrderedDict[str, _Known] = OrderedDict()

    def location(self, key: str) -> str:
        """Where ``key`` lives; only hex digests are keys, so no path can escape the dir."""
        if not is_block_key(key):
            raise ValueError(f"not a block key: {key!r}")
        return f"{self._dir}/{key[:2]}/{key}"

    def path(self, key: str) -> Path:
        return Path(self.location(key))

    def exists(self, key: str) -> bool:
        return os.path.exists(self.location(key))

    # -- handles --

    def _acquire(self, key: str) -> _Handle | None:
        with self._lock:
            handle = self._handles.get(key)
            if handle is not None:
                self._handles.move_to_end(key)
                handle.refs += 1
        if handle is not None:
            if _state_of(handle.fd) == handle.known.state:
                return handle
            self._release(handle)
            self.forget(key)
        try:
            fd = os.open(self.location(key), os.O_RDONLY)
        except (FileNotFoundError, PermissionError):
            return None  # absent, or (a short-circuit client of another user) not ours to read
        try:
            handle = _Handle(fd, self._known_state(key, fd))
        except CorruptBlock as error:
            os.close(fd)
            self._on_corrupt(key, error)
            return None
        handle.refs = 1
        with self._lock:
            previous = self._handles.pop(key, None)
            self._handles[key] = handle
            retired = [previous] if previous else []
            while len(self._handles) > self._max_handles:
                retired.append(self._handles.popitem(last=False)[1])
            for old in retired:
                self._retire_locked(old)
        return handle

    def _known_state(self, key: str, fd: int) -> _Known:
        """What is known of the file open at ``fd``: remembered if its state is unchanged."""
        state = _state_of(fd)
        with self._lock:
            known = self._known.get(key)
            if known is not None and known.state == state:
                self._known.move_to_end(key)
                return known
        known = _Known(state, BlockHeader(os.pread(fd, HEADER_READ, 0)))
        with self._lock:
            self._known[key] = known
            while len(self._known) > _KNOWN_STATES:
                self._known.popitem(last=False)
        return known

    def _release(self, handle: _Handle) -> None:
        with self._lock:
            handle.refs -= 1
            if handle.retired and handle.refs == 0:
                os.close(handle.fd)

    def _retire_locked(self, handle: _Handle) -> None:
        handle.retired = True
        if handle.refs == 0:
            os.close(handle.fd)

    def forget(self, key: str) -> None:
        """Stop reusing the handle of ``key`` (its file is being removed or replaced)."""
        with self._lock:
            self._known.pop(key, None)
            handle = self._handles.pop(key, None)
            if handle is not None:
                self._retire_locked(handle)

    def forget_all(self) -> None:
        with self._lock:
            self._known.clear()
            while self._handles:
                self._retire_locked(self._handles.popitem()[1])

    # -- reads --

    def length(self, key: str) -> int | None:
        handle = self._acquire(key)
        if handle is None:
            return None
        self._release(handle)
        return handle.known.header.data_length

    def read(self, key: str, start: int, end: int | None) -> memoryview | None:
        """Verified bytes ``[start, end)`` (``end=None``: to the end), or None."""

        def into_new_bytes(fd: int, offset: int, lo: int, hi: int, end: int):
            raw = os.pread(fd, hi - lo, offset)  # bytes: no zero fill, one copy
            return memoryview(raw)[start - lo:end - lo], [memoryview(raw)]

        return self._verified_read(key, start, end, into_new_bytes)

    def read_into(self, key: str, start: int, end: int, dest: memoryview) -> bool:
        """Verified bytes ``[start, end)`` into ``dest``; False if absent or corrupt.

        The hot path of warm random reads (``_read_checked``): a range of chunks checked
        in this state of the file is one ``preadv`` into ``dest`` and one ``fstat``.
        Otherwise the middle of the range is read straight into ``dest`` and only the edges
        of the first and last chunk go through scratch buffers. On False, ``dest`` holds
        garbage.
        """
        if self._read_checked(key, start, end, dest):
            return True

        def into_dest(fd: int, offset: int, lo: int, hi: int, end: int):
            if len(dest) != end - start:
                raise CorruptBlock("destination does not match the range")
            segments = [dest]
            if start > lo:
                segments.insert(0, memoryview(bytearray(start - lo)))
            if hi > end:
                segments.append(memoryview(bytearray(hi - end)))
            if os.preadv(fd, segments, offset) != hi - lo:
                raise CorruptBlock("truncated data")
            return True, segments

        return self._verified_read(key, start, end, into_dest) is not None

    def _read_checked(self, key: str, start: int, end: int, dest: memoryview) -> bool:
        """Read a range of checked chunks through an open handle, taking no lock.

        The handle is not pinned: another thread may close its descriptor meanwhile, and
        the number may even be reused by another file. So the file's state is compared
        *after* the read: if it is still the state whose chunks were checked (same inode,
        size, mtime, ctime), the bytes read are that file's, unchanged since the check.
        Anything else (a closed descriptor, another file, a write) takes the locked path.
        """
        handle = self._handles.get(key)  # one dict read: atomic, no lock needed
        if handle is None:
            return False
        known = handle.known
        header = known.header
        checked = known.checked
        if not (len(dest) == end - start and 0 <= start <= end <= header.data_length
                and (checked == header.all_chunks
                     or checked & (chunks := header.chunks_of(start, end)) == chunks)):
            return False
        try:
            return (os.preadv(handle.fd, [dest], header.data_offset + start) == end - start
                    and _state_of(handle.fd) == known.state)
        except OSError:  # closed meanwhile
            return False

    def _verified_read(self, key: str, start: int, end: int | None, read_span):
        """Read ``[start, end)`` with ``read_span`` and return its result; None if the block
        is absent or fails a check. Chunks not checked yet in this state of the file are
        read whole and hashed; a range of checked chunks is read exactly."""
        handle = self._acquire(key)
        if handle is None:
            return None
        known = handle.known
        header = known.header
        try:
            end = header.data_length if end is None else end
            if not 0 <= start <= end <= header.data_length:
                raise CorruptBlock("requested range outside the block")
            lo, hi = header.chunk_span(start, end)
            chunks = header.chunks_of(start, end)
            unchecked = chunks & ~known.checked
            if not unchecked:
                lo, hi = start, end
            result, segments = read_span(handle.fd, header.data_offset + lo, lo, hi, end)
            if sum(map(len, segments)) != hi - lo:
                raise CorruptBlock("truncated data")
            if unchecked:
                header.verify_segments(segments, lo)
                known.checked |= chunks
        except CorruptBlock as error:
            self._fail(key, error)
            return None
        finally:
            self._release(handle)
        return result

    def _fail(self, key: str, error: CorruptBlock) -> None:
        self.forget(key)
        self._on_corrupt(key, error)


def read_block_file(path: Path) -> bytes | None:
    """The verified data of the block file at ``path`` (e.g. a victim being demoted)."""
    try:
        with open(path, "rb") as file:
            raw = file.read()
        header = BlockHeader(raw[:HEADER_READ])
        data = memoryview(raw)[header.data_offset:header.data_offset + header.data_length]
        if len(data) != header.data_length:
            raise CorruptBlock("truncated data")
        header.verify(data, 0)
        return bytes(data)
    except (CorruptBlock, OSError):
        return None
