"""Reading the block files of one tier directory: verified ranges, reused open handles.

Used by the ``DirectoryTier`` that owns a directory and by clients of the daemon that
read its directories directly (short-circuit reads). The bytes behind a key never change
(keys carry the object version), so an open handle is as good as a fresh open; a handle
whose file was unlinked is retired when next touched, and handles are reference-counted
so none is closed while another thread is still reading through it (except by the hot
path of checked ranges, which takes no lock and checks the file's state instead).

Verification is remembered per *state* of a file: its inode, size, mtime and ctime. A
chunk's checksum is checked the first time this process reads it from that state; later
reads of checked chunks copy exactly the range asked for, straight into the caller's
buffer. Any write to the file, a truncation or a replacement changes its state and so
forgets what was checked. (Hashing whole chunks on every read made a warm 64 KiB read
five times slower than a local ``pread``.) What this cannot see is a disk returning other
bytes for a page the kernel drops and reads again with no write in between; JuiceFS's
default ``verify-cache-checksum=full`` does not check partial reads at all.

Small reads (up to ``MAPPED_READ_LIMIT``) of checked chunks are a ``memcpy`` from a
read-only mapping of the file, large ones a ``preadv`` followed by an ``fstat`` that
compares the state (unless the file is mapped already, see below). Block files written
while fetching is busy skip the page cache (``direct_write``), so their page cache is
filled later by the readers: random reads leave it in 4 KiB folios, where a 64 KiB
``pread`` cost 8.5 us against 5.1 us for a file written through the page cache; the copy
from a mapping cost 4.9 us and 4.6 us (``fstat`` included). A mapped file is watched
(``change_watch``): a mapped read asks the watch whether anything changed instead of
calling ``fstat``, 0.4 us against 1.4 us.

Large reads of a mapped file are copies from the mapping too. The C library's copy of
4 MiB took 120-135 us wherever the destination lay; the kernel's copy in ``preadv`` took
150-200 us, and 1.5 ms into a buffer 16 bytes past a page boundary (where a fresh 4 MiB
``bytearray`` lands), whose loads and stores alias in the CPU. But mapped pages count
towards the reader's resident set, which a 4 GiB stream must not grow, so a large read
does not map a file: the fastest tier's resident views do (``resident``), since there the
page cache plays the memory tier, and the mappings are few (``_MAPPED_BLOCKS``). A tier
behind a memory tier maps only for small reads. Nothing tierfs does truncates a block file
in place (files are replaced by renames), and a truncation is seen before the mapping is
touched, so it only reaches a mapping (as SIGBUS) if something else truncates the file
in the microseconds of the copy.

``_Handle.read_checked`` is that hot path; the fastest tier's resident views
(``tierfs.cache.resident``) call it through the handle they were made with, so a view
holds no mapping the table of handles let go of, and a view of a closed handle fails.

Lock order: ``self._lock`` guards the handle table, the reference counts and the tables
of known states and of mappings; under it only the watch's own table lock is taken.
"""

from __future__ import annotations

import mmap
import os
import resource
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from time import monotonic

from tierfs.cache.block_format import BlockHeader, CorruptBlock
from tierfs.cache.block_key import is_block_key
from tierfs.cache.change_watch import EVERYTHING, ChangeWatch, open_change_watch

HEADER_READ = 4096  # block_format keeps every header within one page
_KNOWN_STATES = 4096  # parsed headers and checked chunks kept, open handle or not
MAPPED_READ_LIMIT = 256 * 1024  # larger reads are a preadv (see the module docstring)
_MAPPED_BLOCKS = 64  # mappings kept per directory: 256 MiB of 4 MiB blocks at most
_REPORT_SECONDS = 1.0  # how often a resident view reports its hits at most
_NOT_MAPPED = memoryview(b"")  # a handle that reads by preadv: small block, or no room


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
    __slots__ = ("fd", "known", "refs", "retired", "mapped", "watch")

    def __init__(self, fd: int, known: _Known):
        self.fd, self.known, self.refs, self.retired = fd, known, 0, False
        # a view of a read-only mapping of the whole file, made at its first small read
        # (None until then); dropping the last reference unmaps it, so a reader holding it
        # is never cut off
        self.mapped: memoryview | None = None
        self.watch: int | None = None  # the inotify watch a mapped handle relies on

    def read_checked(self, start: int, end: int | None, dest: memoryview | None,
                     watch: ChangeWatch | None) -> memoryview | None:
        """Read a range of checked chunks, taking no lock: into ``dest``, or into new
        ``bytes`` (one copy, no zero fill) if it is None. Returns the view that holds the
        bytes, or None to have the locked path (``_verified_read``) read them.

        The handle is not pinned: another thread may close its descriptor meanwhile, and
        the number may even be reused by another file. So after a ``preadv`` the file's
        state is compared: if it is the state whose chunks were checked (same inode, size,
        mtime, ctime), the bytes are that file's, unchanged since the check, even with a
        write racing the read. Anything else (a closed descriptor, another file, a write)
        takes the locked path. A mapping is bound to its file, not to the descriptor, and
        ``watch`` is asked *before* the copy, so that a truncated file is never touched
        through it. The mapping's view is held by this frame, so unmapping waits for the
        copy.
        """
        known = self.known
        header = known.header
        if end is None:
            end = header.data_length
        size = end - start
        if not ((dest is None or len(dest) == size) and 0 <= start <= end <= header.data_length):
            return None
        checked = known.checked
        if (checked != header.all_chunks
                and checked & (chunks := header.chunks_of(start, end)) != chunks):
            return None
        offset = header.data_offset + start
        mapped = self.mapped
        try:
            if mapped is _NOT_MAPPED or (mapped is None and size > MAPPED_READ_LIMIT):
                if dest is None:
                    dest = memoryview(os.pread(self.fd, size, offset))
                    done = len(dest)
                else:
                    done = os.preadv(self.fd, [dest], offset)
                return dest if done == size and _state_of(self.fd) == known.state else None
            if mapped is None or watch is None or watch.pending():
                return None  # the locked path maps it, or acts on the changes
        except OSError:  # closed meanwhile
            return None
        if dest is None:
            return memoryview(mapped[offset:offset + size].tobytes())
        dest[:] = mapped[offset:offset + size]
        return dest


class _HandleView:
    """A resident view of an open block file: its checked reads, with the handle looked
    up once instead of at every read. A handle retired since fails its reads (its state
    no longer compares) and the reader replaces the view.

    The view counts its hits and reports them (``record``) at its first hit, then at most
    once every ``_REPORT_SECONDS``: the tier writes access times in batches of two
    seconds anyway, and a call into the tier at every hit cost 4-7% of a warm random
    64 KiB read. Hits after the last report wait for the view's next hit; threads sharing
    a view may lose one now and then. Both only blur the order of eviction."""

    __slots__ = ("handle", "watch", "record", "unreported", "report_at")

    def __init__(self, handle: _Handle, watch: ChangeWatch | None,
                 record: Callable[[int], None]):
        self.handle, self.watch, self.record = handle, watch, record
        self.unreported, self.report_at = 0, 0.0

    def read(self, lo: int, hi: int, dest: memoryview | None) -> memoryview | None:
        view = self.handle.read_checked(lo, hi, dest, self.watch)
        if view is not None:
            self.unreported += 1
            if monotonic() >= self.report_at:
                hits, self.unreported = self.unreported, 0
                self.report_at = monotonic() + _REPORT_SECONDS
                self.record(hits)
        return view


class BlockFiles:
    def __init__(self, blocks_dir: Path, on_corrupt: Callable[[str, CorruptBlock], None],
                 max_handles: int | None = None,
                 opener: Callable[[str], int | None] | None = None):
        """``opener(key)`` gives a new read-only descriptor of the file of ``key`` (or None
        if absent); by default it opens the file in ``blocks_dir``. A daemon's client
        that cannot see the directory gets its descriptors from the daemon instead."""
        self.blocks_dir = blocks_dir
        self._dir = os.fspath(blocks_dir)
        self._on_corrupt = on_corrupt
        self._open = opener or self._open_in_directory
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
        self._mapped: OrderedDict[str, _Handle] = OrderedDict()
        self._watch: ChangeWatch | None = None  # opened at the first mapping
        self._watch_opened = False

    def location(self, key: str) -> str:
        """Where ``key`` lives; only hex digests are keys, so no path can escape the dir."""
        if not is_block_key(key):
            raise ValueError(f"not a block key: {key!r}")
        return f"{self._dir}/{key[:2]}/{key}"

    def path(self, key: str) -> Path:
        return Path(self.location(key))

    def exists(self, key: str) -> bool:
        """Whether ``key`` has a file. A hint (read-ahead asks it of every block it might
        fetch), so an open handle answers with no ``stat``, even if its file just went:
        a warm sequential read of files opened afresh ran 2% faster."""
        return key in self._handles or os.path.exists(self.location(key))

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
        fd = self._open(key)
        if fd is None:
            return None
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

    def _retire_locked(self, key: str, handle: _Handle) -> None:
        handle.retired = True
        self._unmap_locked(handle)
        if self._mapped.get(key) is handle:
            del self._mapped[key]
        if handle.refs == 0:
            os.close(handle.fd)

    def _unmap_locked(self, handle: _Handle) -> None:
        handle.mapped = _NOT_MAPPED
        if handle.watch is not None:
            self._watch.unwatch(handle.watch)
            handle.watch = None

    def _change_watch(self) -> ChangeWatch | None:
        with self._lock:
            if not self._watch_opened:
                self._watch_opened = True
                self._watch = open_change_watch()
            return self._watch

    def _map(self, key: str, handle: _Handle) -> None:
        """Map the file of a pinned handle for small reads of parts of it (a small block
        read whole gains nothing), unmapping the oldest beyond ``_MAPPED_BLOCKS``. A handle
        is mapped once: one that lost its mapping reads by ``preadv`` until it is opened
        again, so a working set beyond the bound does not map and unmap at every read.

        Only a watched file is mapped (``change_watch``), and the watch is set before the
        file's state is compared again: a change before the watch shows in the state, any
        later one in the watch."""
        mapped, watch_id = _NOT_MAPPED, None
        watch = (self._change_watch()
                 if handle.known.header.data_length > MAPPED_READ_LIMIT else None)
        if watch is not None:
            watch_id = watch.watch(handle.fd, key)
            if watch_id is not None and _state_of(handle.fd) == handle.known.state:
                try:
                    mapped = memoryview(mmap.mmap(handle.fd, 0, access=mmap.ACCESS_READ))
                except (OSError, ValueError):  # a file system that cannot map
                    pass
        with self._lock:
            if handle.retired or handle.mapped is not None or mapped is _NOT_MAPPED:
                if watch_id is not None:
                    watch.unwatch(watch_id)
                if not handle.retired and handle.mapped is None:
                    handle.mapped = _NOT_MAPPED
                return
            handle.mapped, handle.watch = mapped, watch_id
            self._mapped[key] = handle
            while len(self._mapped) > _MAPPED_BLOCKS:
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
        """Verified bytes ``[start, end)`` (``end=None``: to the end), or None; a view
        over new ``bytes`` (see ``_read_checked``)."""
        view = self._read_checked(key, start, end, None)
        if view is not None:
            return view

        def into_new_bytes(fd: int, offset: int, lo: int, hi: int, end: int):
            raw = os.pread(fd, hi - lo, offset)  # bytes: no zero fill, one copy
            return memoryview(raw)[start - lo:end - lo], [memoryview(raw)]

        return self._verified_read(key, start, end, into_new_bytes)

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
                        or _state_of(handle.fd) != handle.known.state):
                    return None  # the file changed meanwhile: the caller reads instead
            return os.dup(handle.fd), header.data_offset + start, end - start
        finally:
            self._release(handle)

    def resident(self, key: str, record: Callable[[int], None]) -> _HandleView | None:
        """A view of the file of ``key`` for ``tierfs.cache.resident`` (None if it is
        absent); it reports its hits to ``record``. The file is mapped first, so that
        the view's large reads are copies from the mapping too. It reads through the
        handle, so it holds no mapping the table of handles let go."""
        handle = self._acquire(key)
        if handle is None:
            return None
        try:
            if handle.mapped is None:
                self._map(key, handle)
        finally:
            self._release(handle)
        return _HandleView(handle, self._watch, record)

    def _read_checked(self, key: str, start: int, end: int | None,
                      dest: memoryview | None) -> memoryview | None:
        """``_Handle.read_checked`` through the open handle of ``key``, if there is one."""
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
            if handle.mapped is None and end - start <= MAPPED_READ_LIMIT:
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
