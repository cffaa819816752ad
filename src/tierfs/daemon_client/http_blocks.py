"""The fast HTTP path: cached blocks read by key and byte range, over kept-alive connections.

For clients that can neither open the daemon's tier files nor receive their
descriptors (another host's peers, remote clients, an unreachable descriptor socket).
A hit is one ``GET /v1/blocks/{key}`` with a ``Range`` on a connection this thread
keeps open (``http.client``, blocking, on the caller's thread: no hop to an event
loop); the daemon answers from the event loop with the exact range of the verified
block. A 404 (not cached) is a miss the ``DaemonFetcher`` then fetches.
"""

from __future__ import annotations

import http.client
import logging
import os
import socket
import ssl
import threading
from urllib.parse import urlsplit

from tierfs.cache.config import TierSpec
from tierfs.cache.tier import PutOutcome, PutResult
from tierfs.daemon_client.protocol import BLOCK_RANGE, TOKEN_ENV

logger = logging.getLogger(__name__)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("tierfs-daemon", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class HttpBlocks:
    """Ranged reads of cached blocks; one kept-alive connection per thread."""

    def __init__(self, address: str, token: str | None = None, *, cafile: str | None = None,
                 timeout: float = 30.0):
        self.address = address
        token = token if token is not None else os.environ.get(TOKEN_ENV)
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = timeout
        self._cafile = cafile
        self._local = threading.local()

    def __repr__(self) -> str:  # never shows the token
        return f"HttpBlocks({self.address!r})"

    def _new_connection(self) -> http.client.HTTPConnection:
        if not self.address.startswith(("http://", "https://")):
            return _UnixConnection(self.address, self._timeout)
        parts = urlsplit(self.address)
        if parts.scheme == "https":
            context = ssl.create_default_context(cafile=self._cafile)
            return http.client.HTTPSConnection(parts.hostname, parts.port,
                                               timeout=self._timeout, context=context)
        connection = http.client.HTTPConnection(parts.hostname, parts.port,
                                                timeout=self._timeout)
        connection.connect()
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection

    def _connection(self) -> http.client.HTTPConnection:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():  # forked: not the parent's sockets
            local.pid, local.connection = os.getpid(), None
        if local.connection is None:
            local.connection = self._new_connection()
        return local.connection

    def read(self, key: str, start: int, end: int | None,
             dest: memoryview | None = None) -> bytes | memoryview | None:
        """Bytes ``[start, end)`` of the cached block ``key`` (into ``dest`` if given), or
        None if the daemon does not hold it or cannot be asked."""
        if end is not None and end <= start:
            return b"" if dest is None else dest
        headers = self._headers
        if start or end is not None:
            headers = headers | {"Range": f"bytes={start}-{'' if end is None else end - 1}"}
        route = BLOCK_RANGE.format(key=key)
        for attempt in range(2):  # a kept-alive connection the daemon closed: once more
            connection = None
            try:
                connection = self._connection()
                connection.request("GET", route, headers=headers)
                response = connection.getresponse()
                if response.status not in (200, 206):
                    response.read()
                    if response.status != 404:
                        logger.debug("tierfs daemon answered %d for a block", response.status)
                    return None
                if dest is None:
                    return response.read()
                if response.length != len(dest) or response.readinto(dest) != len(dest):
                    raise http.client.IncompleteRead(b"")
                return dest
            except (OSError, http.client.HTTPException) as error:
                self._local.connection = None
                if connection is not None:
                    connection.close()
                if attempt:
                    logger.debug("tierfs daemon at %s: %s", self.address, error)
        return None


class HttpBlockTier:
    """A read-only view of everything the daemon caches, through ``HttpBlocks``."""

    accepts_blocks = False
    corrupt_blocks = 0

    def __init__(self, spec: TierSpec, blocks: HttpBlocks):
        self.spec = spec
        self._blocks = blocks

    def get(self, key: str, start: int, end: int | None):
        data = self._blocks.read(key, start, end)
        return None if data is None else memoryview(data)

    def get_block(self, key: str) -> bytes | None:
        return self._blocks.read(key, 0, None)

    def read_into(self, key: str, start: int, end: int, dest: memoryview) -> bool:
        return self._blocks.read(key, start, end, dest) is not None

    def contains(self, key: str) -> bool:
        # a hint for read-ahead: False lets it fetch through the daemon, which then
        # serves the block from its cache
        return False

    def put(self, key: str, data: bytes) -> PutOutcome:
        return PutOutcome(PutResult.ALREADY_PRESENT)  # the daemon stored it when it fetched

    def remove(self, key: str) -> bool:
        return False

    def usage(self) -> tuple[int, int]:
        return 0, 0

    def clear(self) -> None:
        """Nothing to forget: nothing is kept."""
