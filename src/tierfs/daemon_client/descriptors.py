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
from pathlib import Path

from tierfs.cache import BlockFileTier, TierSpec
from tierfs.daemon_client import descriptor_protocol as wire
from tierfs.daemon_client.hit_reports import HitReporter
from tierfs.daemon_client.protocol import TOKEN_ENV

logger = logging.getLogger(__name__)

_SWEEP_SECONDS = 1.0
_RETRY_AFTER_SECONDS = 5.0
_INLINE_KEPT = 4  # memory-only blocks answered to an open, waiting for their reader


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

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock, self._reader = None, None

    def close(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                self._drop()


class DescriptorTier(BlockFileTier):
    """A read-only view of the daemon's persistent tiers through passed descriptors."""

    def __init__(self, spec: TierSpec, reporter: HitReporter, client: DescriptorClient):
        self._client = client
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

    def _open(self, key: str) -> int | None:
        """The opener of ``BlockFiles``: a descriptor from the daemon, or None."""
        now = time.monotonic()
        if now - self._swept >= _SWEEP_SECONDS:
            self._swept = now
            self.files.forget_unlinked()
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
        self._client.close()
