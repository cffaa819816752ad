"""An open block file and what this process checked of it: lock-free reads of checked chunks.

Verification is remembered per state of a file (inode, size, mtime, ctime): a chunk is
hashed the first time it is read in that state, and later reads of checked chunks copy
exactly the range asked for. Any write, truncation or replacement changes the state.
"""

from __future__ import annotations

import os

from tierfs.cache.block_buffers import copy_new, pread_new
from tierfs.cache.block_format import BlockHeader

HEADER_READ = 4096  # block_format keeps every header within one page
NOT_MAPPED = memoryview(b"")  # a handle that reads by preadv: small block, or no room


def state_of(fd: int) -> tuple[int, int, int, int] | None:
    """What any write, truncation or replacement of the file changes; None once unlinked."""
    st = os.fstat(fd)
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns) if st.st_nlink else None


class KnownState:
    """One state of one block file as this process knows it: header, chunks checked."""

    __slots__ = ("state", "header", "checked")

    def __init__(self, state: tuple, header: BlockHeader):
        # ``checked`` is a bitmask of chunk indexes; a racing ``|=`` may lose a bit, which
        # only means that chunk is hashed once more
        self.state, self.header, self.checked = state, header, 0


class BlockHandle:
    __slots__ = ("fd", "known", "refs", "retired", "mapped", "watch", "mapped_read_limit")

    def __init__(self, fd: int, known: KnownState, mapped_read_limit: int):
        self.fd, self.known, self.refs, self.retired = fd, known, 0, False
        # a view of a read-only mapping of the whole file, made at its first small read
        # (None until then); dropping the last reference unmaps it, so a reader holding it
        # is never cut off
        self.mapped: memoryview | None = None
        self.watch: int | None = None  # the inotify watch a mapped handle relies on
        self.mapped_read_limit = mapped_read_limit  # larger reads of an unmapped file: preadv

    def read_checked(self, start: int, end: int | None, dest: memoryview | None,
                     watch) -> memoryview | None:
        """Read a range of checked chunks, taking no lock: into ``dest``, or into memory of
        its own (``block_buffers``) if it is None. Returns the view that holds the bytes, or
        None to have the locked path (``BlockFiles``) read them.

        The handle is not pinned: its descriptor may be closed (and its number reused)
        meanwhile, so after a ``preadv`` the file's state is compared with the checked
        one. A mapping is bound to its file, and ``watch`` (a ``ChangeWatch``) is asked
        before the copy, so a truncated file is never touched through it.
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
            if mapped is NOT_MAPPED or (mapped is None and size > self.mapped_read_limit):
                if dest is None:
                    dest = pread_new(self.fd, size, offset)
                    done = len(dest)
                else:
                    done = os.preadv(self.fd, [dest], offset)
                return dest if done == size and state_of(self.fd) == known.state else None
            if mapped is None or watch is None or watch.pending():
                return None  # the locked path maps it, or acts on the changes
        except OSError:  # closed meanwhile
            return None
        if dest is None:
            return copy_new(mapped[offset:offset + size])
        dest[:] = mapped[offset:offset + size]
        return dest
