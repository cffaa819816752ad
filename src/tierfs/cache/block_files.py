"""Reading the block files of one tier directory: verified ranges through reused open handles.

Used by the tiers of block files (the directory a process owns, and the daemon's seen by
its clients). Keys carry the object version, so an open handle is as good as a fresh
open; handles are reference-counted and retired when their file goes. Small reads copy
from a read-only mapping watched for changes (``change_watch``), large ones are a
``preadv`` and an ``fstat`` (``BlockHandle``); the figures behind these choices are in
docs/performance.md.

Lock order: ``self._lock`` guards the handle table, the reference counts and the tables
of known states and of mappings; under it only the watch's own table lock is taken.
"""

from __future__ import annotations

import mmap
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from tierfs.cache.after_fork import reset_after_fork
from tierfs.cache.block_buffers import pread_new
from tierfs.cache.block_format import BlockHeader, CorruptBlock
from tierfs.cache.block_handle import HEADER_READ, NOT_MAPPED, BlockHandle, KnownState, state_of
from tierfs.cache.block_key import is_block_key
from tierfs.cache.change_watch import EVERYTHING, ChangeWatch, open_change_watch
from tierfs.cache.resident import FileBlockView
from tierfs.cache.tuning import TUNING, Tuning

# a block's file lives in the directory named by its key's first two hex digits
SHARDS = tuple(f"{index:02x}" for index in range(256))

try:
    import resource
except ImportError:  # not a Unix: no descriptor limit to ask
    resource = None



def handle_budget(wanted: int) -> int:
    """Descriptors one directory keeps open: ``wanted``, at most an eighth of this process's
    file limit (where the platform tells it)."""
    if resource is None:
        return wanted
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(8, min(wanted, soft // 8)) if soft != resource.RLIM_INFINITY else wanted


class BlockFiles:
    def __init__(self, blocks_dir: Path, on_corrupt: Callable[[str, CorruptBlock], None],
                 opener: Callable[[str], int | None] | None = None, tuning: Tuning = TUNING):
        """``opener(key)`` gives a new read-only descriptor of the file of ``key`` (or None
        if absent); by default it opens the file in ``blocks_dir``. A daemon's client
        that cannot see the directory gets its descriptors from the daemon instead."""
        self.blocks_dir = blocks_dir
        self._dir = os.fspath(blocks_dir)
        self._on_corrupt = on_corrupt
        self._open = opener or self._open_in_directory
        self._max_handles = handle_budget(tuning.max_handles)
        self._known_states = tuning.known_states
        self._mapped_read_limit = tuning.mapped_read_limit
        self._mapped_blocks = tuning.mapped_blocks
        self._report_seconds = tuning.view_report_seconds
        self._start_process_state()
        # the parent's table belongs to the parent (and its lock may be held at the fork)
        reset_after_fork(self, BlockFiles._start_process_state)

    def _start_process_state(self) -> None:
        self._lock = threading.Lock()
        self._handles: OrderedDict[str, BlockHandle] = OrderedDict()
        self._known: OrderedDict[str, KnownState] = OrderedDict()
        self._mapped: OrderedDict[str, BlockHandle] = OrderedDict()
        self._watch: ChangeWatch | None = None  # opened at the first mapping
        self._watch_opened = False

    def location(self, key: str) -> str:
        """Where ``key`` lives; only hex digests are keys, so no path can escape the dir."""
        if not is_block_key(key):
            raise ValueError(f"not a block key: {key!r}")
        return f"{self._dir}/{key[:2]}/{key}"  # in one of SHARDS

    def path(self, key: str) -> Path:
        return Path(self.location(key))

    def exists(self, key: str) -> bool:
        """Whether ``key`` has a file. A hint (read-ahead asks it of every block it might
        fetch), so an open handle answers with no ``stat``, even if its file just went:
        a hint need not cost a system call."""
        return key in self._handles or os.path.exists(self.location(key))

    def holds(self, key: str) -> bool:
        """Whether a descriptor of ``key``'s file is open here (a hint: no system call)."""
        return key in self._handles

    # -- handles --

    def _acquire(self, key: str) -> BlockHandle | None:
        with self._lock:
            handle = self._handles.get(key)
            if handle is not None:
                self._handles.move_to_end(key)
                handle.refs += 1
        if handle is not None:
            if state_of(handle.fd) == handle.known.state:
                return handle
            self._release(handle)
            self.forget(key)
        fd = self._open(key)
        if fd is None:
            return None
        try:
            handle = BlockHandle(fd, self._known_state(key, fd), self._mapped_read_limit)
        except CorruptBlock as error:
            os.close(fd)
            self._on_corrupt(key, error)
            return None
        handle.refs = 1
        with self._lock:
            previous = self._handles.pop(key, None)
            self._handles[key] = handle
            retired = [(key, previous)] if previous else []
            while len(self._handles) > self._max_handles:
                retired.append(self._handles.popitem(last=False))
            for old_key, old in retired:
                self._retire_locked(old_key, old)
        return handle

    def _open_in_directory(self, key: str) -> int | None:
        try:
            return os.open(self.location(key), os.O_RDONLY)
        except (FileNotFoundError, PermissionError):
            return None  # absent, or (a short-circuit client of another user) not ours to read

    def _known_state(self, key: str, fd: int) -> KnownState:
        """What is known of the file open at ``fd``: remembered if its state is unchanged."""
        state = state_of(fd)
        with self._lock:
            known = self._known.get(key)
            if known is not None and known.state == state:
                self._known.move_to_end(key)
                return known
        known = KnownState(state, BlockHeader(os.pread(fd, HEADER_READ, 0)))
        with self._lock:
            self._known[key] = known
            while len(self._known) > self._known_states:
                self._known.popitem(last=False)
        return known

    def _release(self, handle: BlockHandle) -> None:
        with self._lock:
            handle.refs -= 1
            if handle.retired and handle.refs == 0:
                os.close(handle.fd)

    def _retire_locked(self, key: str, handle: BlockHandle) -> None:
        handle.retired = True
        self._unmap_locked(handle)
        if self._mapped.get(key) is handle:
            del self._mapped[key]
        if handle.refs == 0:
            os.close(handle.fd)

    def _unmap_locked(self, handle: BlockHandle) -> None:
        handle.mapped = NOT_MAPPED
        if handle.watch is not None:
            self._watch.unwatch(handle.watch)
            handle.watch = None

    def _change_watch(self) -> ChangeWatch | None:
        with self._lock:
            if not self._watch_opened:
                self._watch_opened = True
                self._watch = open_change_watch()
            return self._watch

    def _map(self, key: str, handle: BlockHandle) -> None:
        """Map the file of a pinned handle for small reads of parts of it (a small block
        read whole gains nothing), unmapping the oldest beyond ``tuning.mapped_blocks``. A handle
        is mapped once: one that lost its mapping reads by ``preadv`` until it is opened
        again, so a working set beyond the bound does not map and unmap at every read.

        Only a watched file is mapped (``change_watch``), and the watch is set before the
        file's state is compared again: a change before the watch shows in the state, any
        later one in the watch."""
        mapped, watch_id = NOT_MAPPED, None
        watch = (self._change_watch()
                 if handle.known.header.data_length > self._mapped_read_limit else None)
        if watch is not None:
            watch_id = watch.watch(handle.fd, key)
            if watch_id is not None and state_of(handle.fd) == handle.known.state:
                try:
                    mapped = memoryview(mmap.mmap(handle.fd, 0, access=mmap.ACCESS_READ))
                except (OSError, ValueError):  # a file system that cannot map
                    pass
        with self._lock:
            if handle.retired or handle.mapped is not None or mapped is NOT_MAPPED:
                if watch_id is not None:
                    watch.unwatch(watch_id)
                if not handle.retired and handle.mapped is None:
                    handle.mapped = NOT_MAPPED
                return
            handle.mapped, handle.watch = mapped, watch_id
            self._mapped[key] = handle
            while len(self._mapped) > self._mapped_blocks:
                self._unmap_locked(self._mapped.popitem(last=False)[1])

    def _apply_changes(self, watch: ChangeWatch) -> None:
        """Forget the files the watch saw change, before readers may trust it again."""
        with watch.changes() as changed:
            if changed is EVERYTHING:
                self.forget_all()
            else:
                for key in changed:
                    self.forget(key)

    def forget(self, key: str) -> None:
        """Stop reusing the handle of ``key`` (its file is being removed or replaced)."""
        with self._lock:
            self._known.pop(key, None)
            handle = self._handles.pop(key, None)
            if handle is not None:
                self._retire_locked(key, handle)

    def forget_unlinked(self) -> None:
        """Close the handles whose files were unlinked: blocks that left the cache, whose
        disk space an idle handle would otherwise hold."""
        with self._lock:
            handles = list(self._handles.items())
        for key, handle in handles:
            try:
                gone = os.fstat(handle.fd).st_nlink == 0
            except OSError:  # closed meanwhile: retired by another thread
                continue
            if gone:
                self.forget(key)

    def forget_all(self) -> None:
        with self._lock:
            self._known.clear()
            while self._handles:
                self._retire_locked(*self._handles.popitem())

    # -- reads --

    def length(self, key: str) -> int | None:
        handle = self._acquire(key)
        if handle is None:
            return None
        self._release(handle)
        return handle.known.header.data_length

    def read(self, key: str, start: int, end: int | None) -> memoryview | None:
        """Verified bytes ``[start, end)`` (``end=None``: to the end), or None; a read-only
        view of memory of its own (``block_buffers``)."""
        view = self._read_checked(key, start, end, None)
        if view is not None:
            return view

        def into_new_buffer(fd: int, offset: int, lo: int, hi: int, end: int):
            raw = pread_new(fd, hi - lo, offset)
            return raw[start - lo:end - lo], [raw]

        return self._verified_read(key, start, end, into_new_buffer)

    def read_into(self, key: str, start: int, end: int, dest: memoryview) -> bool:
        """Verified bytes ``[start, end)`` into ``dest``; False if absent or corrupt.

        The hot path of warm reads (``_read_checked``): a range of chunks checked in this
        state of the file is one copy into ``dest`` and one check that the file did not
        change (an ``fstat``, or a look at the change watch). Otherwise the middle of the
        range is read straight into ``dest`` and only the edges of the first and last
        chunk go through scratch buffers. On False, ``dest`` holds garbage.
        """
        if self._read_checked(key, start, end, dest) is not None:
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

    def checked_span(self, key: str, start: int, end: int | None) -> tuple[int, int, int] | None:
        """For ``sendfile``: a new descriptor of the file of ``key`` (the caller closes
        it), the file offset of data byte ``start`` and the length of ``[start, end)``,
        once every chunk of the range was verified in this state of the file (those not
        yet are read and checked here, as by ``read``). None if absent or corrupt."""
        handle = self._acquire(key)
        if handle is None:
            return None
        try:
            header = handle.known.header
            end = header.data_length if end is None else end
            if not 0 <= start <= end <= header.data_length:
                return None
            chunks = header.chunks_of(start, end) if end > start else 0
            if handle.known.checked & chunks != chunks:
                if self.read(key, *header.chunk_span(start, end)) is None:
                    return None
                if (handle.known.checked & chunks != chunks
                        or state_of(handle.fd) != handle.known.state):
                    return None  # the file changed meanwhile: the caller reads instead
            return os.dup(handle.fd), header.data_offset + start, end - start
        finally:
            self._release(handle)

    def view(self, key: str, record: Callable[[int], None]) -> FileBlockView | None:
        """A view of the file of ``key`` for the warm fast path (``tierfs.cache.resident``),
        None if it is absent; it reports its hits to ``record``. The file is mapped first,
        so that the view's large reads copy from the mapping too."""
        handle = self._acquire(key)
        if handle is None:
            return None
        try:
            if handle.mapped is None:
                self._map(key, handle)
        finally:
            self._release(handle)
        return FileBlockView(handle, self._watch, record, self._report_seconds)

    def _read_checked(self, key: str, start: int, end: int | None,
                      dest: memoryview | None) -> memoryview | None:
        """``BlockHandle.read_checked`` through the open handle of ``key``, if there is one."""
        handle = self._handles.get(key)  # one dict read: atomic, no lock needed
        return None if handle is None else handle.read_checked(start, end, dest, self._watch)

    def _verified_read(self, key: str, start: int, end: int | None, read_span):
        """Read ``[start, end)`` with ``read_span`` and return its result; None if the block
        is absent or fails a check. Chunks not checked yet in this state of the file are
        read whole and hashed; a range of checked chunks is read exactly."""
        watch = self._watch
        if watch is not None and watch.pending():
            self._apply_changes(watch)
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
            if handle.mapped is None and end - start <= self._mapped_read_limit:
                self._map(key, handle)
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
