"""Descriptor passing: blocks read from files the daemon opened, for clients that cannot.

A client of another UID, or in a pod without the tier directories, asks the daemon's
descriptor socket for a block and gets an open, read-only descriptor of its file. From
there it reads exactly like a short-circuit reader (``BlockFiles``: the header in the
file gives the chunk checksums; chunks are verified before their bytes are returned),
keeping descriptors per block. A descriptor names an inode, and block files are never
written after they are published, so a held descriptor reads the block's own bytes even
after the daemon evicted it; once its file is unlinked (link count 0) the next read
drops it and asks the daemon again, which answers with the new file or "absent" (a
clean miss). Idle descriptors of unlinked files are closed at most once a second, so
they do not keep evicted blocks on the daemon's disk.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import OrderedDict
from pathlib import Path

from tierfs.cache import BlockFileTier, TierSpec
from tierfs.cache.after_fork import reset_after_fork
from tierfs.daemon_client import descriptor_protocol as wire
from tierfs.daemon_client.hit_reports import HitReporter
from tierfs.daemon_client.protocol import TOKEN_ENV

logger = logging.getLogger(__name__)

_SWEEP_SECONDS = 1.0
_RETRY_AFTER_SECONDS = 5.0
_INLINE_KEPT = 4  # memory-only blocks answered to an open, waiting for their reader
_AHEAD_KEPT = 2 * wire.MAX_KEYS  # descriptors asked at opening, waiting for their reader


class DescriptorClient:
    """One connection to the descriptor socket, shared by this process's threads."""

    def __init__(self, path: str, token: str | None = None, timeout: float = 10.0):
        self.path = path
        self._token = token if token is not None else os.environ.get(TOKEN_ENV)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._reader: wire.FrameReader | None = None
        self.node_id: str | None = None  # of the daemon that answered
        self._pid = os.getpid()

    def __repr__(self) -> str:  # never shows the token
        return f"DescriptorClient({self.path!r})"

    def _connect(self) -> None:
        """Connect and say hello; ``PermissionError`` if the daemon does not admit us."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self._timeout)
            sock.connect(self.path)
            reader = wire.FrameReader(sock)
            sock.sendall(wire.encode({"op": wire.HELLO, "token": self._token}))
            answer, _ = reader.read()
        except BaseException:
            sock.close()
            raise
        if not answer.get("ok"):
            sock.close()
            raise PermissionError(f"tierfs descriptor socket {self.path}: "
                                  f"{answer.get('error', 'refused')}")
        self._sock, self._reader, self.node_id = sock, reader, answer.get("node_id")

    def check(self) -> None:
        """Connect now: ``OSError`` (``PermissionError`` if refused) when it cannot."""
        with self._lock:
            self._ensure_connected()

    def _ensure_connected(self) -> None:
        if self._pid != os.getpid():  # forked: the parent's connection is not ours to use
            self._pid, self._sock, self._reader = os.getpid(), None, None
        if self._sock is None:
            self._connect()

    def open_block(self, key: str) -> int | bytes | None:
        """A descriptor of the block file of ``key``, its bytes (only in the daemon's
        memory), or None if the daemon does not hold it."""
        with self._lock:
            self._ensure_connected()
            try:
                self._sock.sendall(wire.encode({"op": wire.OPEN, "key": key}))
                answer, fds = self._reader.read(with_fds=True)
                found = answer.get("found")
                if found == wire.BYTES:
                    return self._reader.read_bytes(int(answer["length"]))
                if "error" in answer:  # the daemon hangs up after an error
                    self._drop()
            except (OSError, ValueError, KeyError):
                self._drop()
                raise
        if found == wire.FD and len(fds) == 1:
            return fds[0]
        for fd in fds:
            os.close(fd)
        if "error" in answer:
            raise wire.ProtocolError(f"tierfs descriptor socket: {answer['error']}")
        return None

    def open_blocks(self, keys: list[str]) -> dict[str, int]:
        """Descriptors of the block files of up to ``MAX_KEYS`` ``keys``, by key, for those
        in the daemon's tier directories (in one request)."""
        with self._lock:
            self._ensure_connected()
            try:
                self._sock.sendall(wire.encode({"op": wire.OPEN_MANY, "keys": keys}))
                answer, fds = self._reader.read(with_fds=True)
                if "error" in answer:  # the daemon hangs up after an error
                    self._drop()
            except (OSError, ValueError, KeyError):
                self._drop()
                raise
        found = answer.get("found")
        if not isinstance(found, list) or len(found) != len(keys) or sum(
                map(bool, found)) != len(fds):
            for fd in fds:
                os.close(fd)
            raise wire.ProtocolError(f"tierfs descriptor socket: {answer.get('error', answer)}")
        return dict(zip((key for key, there in zip(keys, found, strict=True) if there), fds,
                        strict=True))

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock, self._reader = None, None

    def close(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                self._drop()


class DescriptorTier(BlockFileTier):
    """A read-only view of the daemon's persistent tiers through passed descriptors.

    A file just opened has the descriptors of its first ``MAX_KEYS`` blocks asked in one
    request (``opening``): a reader then pays one round trip to the daemon, not one per
    block it reaches first. They wait until a read takes them, at most ``_AHEAD_KEPT``,
    and those of files the daemon unlinked meanwhile are closed by the next sweep."""

    asks_per_block = True

    def __init__(self, spec: TierSpec, reporter: HitReporter, client: DescriptorClient):
        self._client = client
        self._ahead: OrderedDict[str, int] = OrderedDict()  # descriptors asked at opening
        self._ahead_lock = threading.Lock()
        reset_after_fork(self, DescriptorTier._new_ahead_lock)  # it may be held at the fork
        self._inline: dict[str, bytes] = {}
        self._swept = time.monotonic()
        self._down_until = 0.0
        super().__init__(spec, Path(client.path), reporter.hit, opener=self._open)

    @classmethod
    def if_admitted(cls, path: str, node_id: str, token: str | None, tiers: list[dict],
                    reporter: HitReporter) -> DescriptorTier | None:
        """A view through the descriptor socket at ``path``, if it admits this process
        and belongs to the daemon ``node_id`` (not another host's daemon at that path)."""
        client = DescriptorClient(path, token)
        try:
            client.check()
        except OSError as error:
            logger.warning("tierfs descriptor socket %s not usable: %s", path, error)
            return None
        if client.node_id != node_id:
            client.close()
            return None
        medium = tiers[0]["medium"] if tiers else "ssd"
        capacity = sum(int(tier["capacity"]) for tier in tiers)
        return cls(TierSpec(medium, capacity, path), reporter, client)

    def _new_ahead_lock(self) -> None:
        self._ahead_lock = threading.Lock()

    def opening(self, keys: list[str]) -> None:
        missing = [key for key in keys[:wire.MAX_KEYS]
                   if not self.files.holds(key) and key not in self._ahead]
        if len(missing) < 2 or time.monotonic() < self._down_until:
            return  # one block costs the same round trip when it is read
        try:
            fds = self._client.open_blocks(missing)
        except OSError as error:  # a hint: the reads ask again, and handle the failure
            logger.debug("tierfs descriptor socket %s: %s", self._client.path, error)
            return
        with self._ahead_lock:
            for key, fd in fds.items():
                previous = self._ahead.pop(key, None)
                if previous is not None:  # asked twice by racing openers
                    os.close(previous)
                self._ahead[key] = fd
            while len(self._ahead) > _AHEAD_KEPT:
                os.close(self._ahead.popitem(last=False)[1])

    def _close_unlinked_ahead(self) -> None:
        """Close descriptors asked at opening whose files the daemon evicted since: they
        would keep the space of those blocks on its disk."""
        with self._ahead_lock:
            for key in [key for key, fd in self._ahead.items() if os.fstat(fd).st_nlink == 0]:
                os.close(self._ahead.pop(key))

    def _open(self, key: str) -> int | None:
        """The opener of ``BlockFiles``: a descriptor asked at opening, or from the daemon
        now, or None."""
        with self._ahead_lock:
            fd = self._ahead.pop(key, None)
        if fd is not None:
            return fd
        now = time.monotonic()
        if now - self._swept >= _SWEEP_SECONDS:
            self._swept = now
            self.files.forget_unlinked()
            self._close_unlinked_ahead()
        if now < self._down_until:
            return None
        try:
            answer = self._client.open_block(key)
        except OSError as error:  # the daemon went away: misses go to the fetcher
            logger.warning("tierfs descriptor socket %s: %s; retrying in %.0fs",
                           self._client.path, error, _RETRY_AFTER_SECONDS)
            self._down_until = now + _RETRY_AFTER_SECONDS
            return None
        if isinstance(answer, bytes):
            if len(self._inline) >= _INLINE_KEPT:
                self._inline.clear()
            self._inline[key] = answer
            return None
        return answer

    def _inline_block(self, key: str) -> bytes | None:
        # a racing reader of the same key may take it first: it then misses, and fetches
        return self._inline.pop(key, None)

    def get(self, key: str, start: int, end: int | None):
        view = self.files.read(key, start, end)
        if view is None:
            data = self._inline_block(key)
            if data is None:
                return None
            view = memoryview(data)[start:end]
        self._on_hit(key, 1)
        return view

    def read_into(self, key: str, start: int, end: int, dest: memoryview) -> bool:
        if not self.files.read_into(key, start, end, dest):
            data = self._inline_block(key)
            if data is None:
                return False
            dest[:] = memoryview(data)[start:end]
        self._on_hit(key, 1)
        return True

    def contains(self, key: str) -> bool:
        return self.files.length(key) is not None

    def clear(self) -> None:
        super().clear()
        with self._ahead_lock:
            for fd in self._ahead.values():
                os.close(fd)
            self._ahead.clear()
        self._client.close()
