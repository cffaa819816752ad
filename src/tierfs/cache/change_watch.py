"""Which open block files were changed in place: inotify, asked without a system call per file.

A block file is never written after it is renamed into place, so any write, truncation or
unlink is a change its readers must see before they copy again; asking the queue whether
anything happened is cheaper than an ``fstat`` per read. Each file is watched through
``/proc/self/fd`` (the very inode this process opened). Linux only: ``open_change_watch``
returns None elsewhere or past the per-user limit, and readers compare ``fstat`` results.
"""

from __future__ import annotations

import ctypes
import logging
import os
import select
import struct
import sys
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger(__name__)

_IN_MODIFY = 0x00000002  # write, truncation
_IN_ATTRIB = 0x00000004  # metadata, link count (unlink), mode, times set
_IN_DELETE_SELF = 0x00000400
_IN_MOVE_SELF = 0x00000800
_IN_IGNORED = 0x00008000  # the watch is gone (removed, or its file deleted)
_IN_Q_OVERFLOW = 0x00004000  # events were lost: treat every file as changed
_WATCHED = _IN_MODIFY | _IN_ATTRIB | _IN_DELETE_SELF | _IN_MOVE_SELF
_IN_NONBLOCK = 0o4000  # Linux's O_NONBLOCK and O_CLOEXEC: inotify exists nowhere else
_IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, length of the name that follows
EVERYTHING = object()  # what ``changes()`` gives when events were lost


def _load_libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux") or not hasattr(select, "epoll"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
    except (OSError, AttributeError):
        return None
    return libc


_libc = _load_libc()


class ChangeWatch:
    """An inotify instance watching the files this process keeps open, by key.

    ``pending()`` is the hot path: true while events are queued, and while a thread
    inside ``changes()`` is acting on the ones it read, so that no reader trusts a file
    whose event was read but not yet acted on.

    Lock order: ``_taking`` is held around the caller's work in ``changes()``; ``_lock``
    (the table of watches) is a leaf."""

    def __init__(self, fd: int):
        self._fd = fd
        self._epoll = select.epoll()
        self._epoll.register(fd, select.EPOLLIN)
        self._poll = self._epoll.poll
        self._keys: dict[int, str] = {}  # watch descriptor -> key
        self._lock = threading.Lock()
        self._taking = threading.Lock()
        self._acting = False
        self._closer = weakref.finalize(self, _close, fd, self._epoll)

    def pending(self) -> bool:
        # room for one event: by default each call allocates room for 1023
        return self._acting or bool(self._poll(0, 1))

    def watch(self, fd: int, key: str) -> int | None:
        """Watch the file open at ``fd`` for ``key``; its watch descriptor, or None."""
        wd = _libc.inotify_add_watch(self._fd, f"/proc/self/fd/{fd}".encode(), _WATCHED)
        if wd < 0:
            logger.debug("not watching %s: %s", key, os.strerror(ctypes.get_errno()))
            return None
        with self._lock:
            self._keys[wd] = key
        return wd

    def unwatch(self, wd: int) -> None:
        with self._lock:
            if self._keys.pop(wd, None) is not None:
                _libc.inotify_rm_watch(self._fd, wd)

    @contextmanager
    def changes(self) -> Iterator[set[str] | object]:
        """The keys of files changed since last asked (``EVERYTHING`` if events were
        lost); ``pending()`` stays true until the caller has acted on them."""
        with self._taking:
            self._acting = True
            try:
                yield self._read_changes()
            finally:
                self._acting = False

    def _read_changes(self) -> set[str] | object:
        changed: set[str] = set()
        while True:
            try:
                raw = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                return changed
            offset = 0
            while offset < len(raw):
                wd, mask, _cookie, name_length = _EVENT.unpack_from(raw, offset)
                offset += _EVENT.size + name_length
                if mask & _IN_Q_OVERFLOW:
                    return EVERYTHING
                with self._lock:
                    key = (self._keys.pop(wd, None) if mask & _IN_IGNORED
                           else self._keys.get(wd))
                if key is not None and mask & (_WATCHED | _IN_IGNORED):
                    changed.add(key)

    def close(self) -> None:
        self._closer()


def _close(fd: int, epoll: select.epoll) -> None:
    epoll.close()
    os.close(fd)


def open_change_watch() -> ChangeWatch | None:
    """A new watch, or None where inotify is not to be had."""
    if _libc is None:
        return None
    fd = _libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
    if fd < 0:
        logger.debug("no inotify instance: %s", os.strerror(ctypes.get_errno()))
        return None
    return ChangeWatch(fd)
