"""The fast HTTP path: cached blocks read by key and byte range, over kept-alive connections.

For clients that can neither open the daemon's tier files nor receive their
descriptors (another host's peers, remote clients, an unreachable descriptor socket).
A hit is one ``GET /v1/blocks/{key}`` with a ``Range`` on a connection this thread
keeps open (blocking, on the caller's thread: no hop to an event loop), to the daemon's
data port when it has one; the body lands in the caller's buffer or in the ``bytes`` the
reader returns, after a short poll instead of a sleep (``busy_poll``); a sequential
reader's next block is already asked for (``http_read_ahead``). A 404 (not cached) is a
miss the ``DaemonFetcher`` then fetches.
"""

from __future__ import annotations

import http.client
import logging
import os
import socket
import ssl
import struct
import threading
from urllib.parse import urlsplit

from tierfs.busy_poll import BusyPoll
from tierfs.cache import PutOutcome, PutResult, Tier, TierSpec
from tierfs.daemon_client.http_read_ahead import ReadAhead
from tierfs.daemon_client.protocol import BLOCK_RANGE, TOKEN_ENV
from tierfs.fresh_bytes import filled_bytes

logger = logging.getLogger(__name__)


class _Exchange:
    """One kept-alive HTTP/1.1 connection making GETs whose answers have a Content-Length.

    ``http.client`` parses every response's headers with the ``email`` package, slow
    next to a small block read (docs/performance.md); the block route answers in one
    shape, so this reads its status line and Content-Length, and the body into the
    caller's buffer."""

    def __init__(self, sock: socket.socket, host: str, headers: dict[str, str],
                 poll: BusyPoll):
        self.sock = sock
        self._poll = poll
        # a body in one call that returns when all of it is there: one wake-up, not one
        # per segment (TLS decrypts in user space and takes no flags)
        self._whole = 0 if isinstance(sock, ssl.SSLSocket) else socket.MSG_WAITALL
        fixed = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._head = f" HTTP/1.1\r\nHost: {host}\r\n{fixed}"
        self._pending = bytearray()  # bytes received past the previous answer's head

    def ask(self, key: str, start: int, end: int | None) -> None:
        """Send the request for bytes ``[start, end)`` of block ``key``; ``receive`` its answer."""
        extra = ""
        if start or end is not None:
            extra = f"Range: bytes={start}-{'' if end is None else end - 1}\r\n"
        route = BLOCK_RANGE.format(key=key)
        self.sock.sendall(f"GET {route}{self._head}{extra}\r\n".encode())

    def receive(self, dest: memoryview | None):
        """(status, body) of the oldest request unanswered: the body lands in ``dest`` when
        its length matches."""
        buffer = self._pending
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            if len(buffer) > _MAX_HEAD:
                raise http.client.HTTPException("response head too long")
            buffer += self._recv(_MAX_HEAD)
        head = bytes(buffer[:end]).decode("latin-1").split("\r\n")
        del buffer[:end + 4]
        status = int(head[0].split(" ", 2)[1])
        length, close = None, False
        for line in head[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        if length is None:
            raise http.client.HTTPException("response without a Content-Length")

        def fill(body: memoryview) -> None:
            have = min(len(buffer), length)
            with memoryview(buffer) as received:
                body[:have] = received[:have]
            del buffer[:have]
            while have < length:
                self._poll.wait(self.sock)
                received = self.sock.recv_into(body[have:], 0, self._whole)
                if not received:
                    raise http.client.IncompleteRead(b"")
                have += received

        if dest is not None and len(dest) == length:
            fill(dest)
            body = dest
        else:  # received straight into the bytes a reader returns: no copy after
            body = memoryview(filled_bytes(length, fill))
        if close:
            raise ConnectionResetError("the daemon closed the connection")
        return status, body

    def _recv(self, size: int) -> bytes:
        self._poll.wait(self.sock)
        data = self.sock.recv(size)
        if not data:
            raise http.client.RemoteDisconnected("the daemon closed the connection")
        return data

    def close(self) -> None:
        self.sock.close()


_MAX_HEAD = 64 * 2**10
_CONNECTION_ERRORS = (OSError, ValueError, http.client.HTTPException)


def _timeouts_in_kernel(sock: socket.socket, seconds: float) -> None:
    """A blocking socket whose sends and receives give up after ``seconds``: Python's own
    timeout makes the socket non-blocking, where ``MSG_WAITALL`` waits for nothing."""
    sock.settimeout(None)
    limit = struct.pack("ll", int(seconds), int(seconds % 1 * 1e6))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, limit)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, limit)


class HttpBlocks:
    """Ranged reads of cached blocks; one kept-alive connection per thread."""

    def __init__(self, address: str, token: str | None = None, *, cafile: str | None = None,
                 timeout: float = 30.0, poll_us: int = 0):
        self.address = address
        self._poll = BusyPoll(poll_us)
        token = token if token is not None else os.environ.get(TOKEN_ENV)
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = timeout
        self._cafile = cafile
        self._local = threading.local()

    def __repr__(self) -> str:  # never shows the token
        return f"HttpBlocks({self.address!r})"

    def _new_connection(self) -> _Exchange:
        if not self.address.startswith(("http://", "https://")):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self._timeout)
            try:
                sock.connect(self.address)
            except OSError:
                sock.close()
                raise
            _timeouts_in_kernel(sock, self._timeout)
            return _Exchange(sock, "tierfs-daemon", self._headers, self._poll)
        parts = urlsplit(self.address)
        sock = socket.create_connection((parts.hostname, parts.port or 80),
                                        timeout=self._timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if parts.scheme == "https":
            context = ssl.create_default_context(cafile=self._cafile)
            sock = context.wrap_socket(sock, server_hostname=parts.hostname)
        else:
            _timeouts_in_kernel(sock, self._timeout)
        return _Exchange(sock, parts.netloc, self._headers, self._poll)

    def _thread_state(self) -> threading.local:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():  # forked: not the parent's sockets
            local.pid, local.connection, local.ahead = os.getpid(), None, ReadAhead()
        return local

    def _connection(self) -> _Exchange:
        local = self._thread_state()
        if local.connection is None:
            local.connection = self._new_connection()
        return local.connection

    def expect(self, blocks: list[tuple[str, int]]) -> None:
        """(key, length) of the blocks this thread's sequential reader reads next."""
        self._thread_state().ahead.expect(blocks)

    def read(self, key: str, start: int, end: int | None,
             dest: memoryview | None = None) -> memoryview | None:
        """Bytes ``[start, end)`` of the cached block ``key`` (into ``dest`` if given), or
        None if the daemon does not hold it or cannot be asked."""
        if end is not None and end <= start:
            return memoryview(b"") if dest is None else dest
        for attempt in range(2):  # a kept-alive connection the daemon closed: once more
            connection = None
            try:
                connection = self._connection()
                found = self._local.ahead.take(connection, key, start, end, dest)
                if found is None:
                    found = self._ask(connection, key, start, end, dest)
            except _CONNECTION_ERRORS as error:
                self._drop(connection, error if attempt else None)
                continue
            try:
                self._local.ahead.ask_next(connection, key)
            except _CONNECTION_ERRORS as error:  # the read itself succeeded
                self._drop(connection, error)
            return found
        return None

    @staticmethod
    def _ask(connection: _Exchange, key: str, start: int, end: int | None,
             dest: memoryview | None) -> memoryview | None:
        connection.ask(key, start, end)
        status, body = connection.receive(dest)
        if status in (200, 206) and (dest is None or body is dest):
            return body
        if status != 404:
            logger.debug("tierfs daemon answered %d for a block", status)
        return None

    def _drop(self, connection: _Exchange | None, error: Exception | None) -> None:
        """Forget this thread's connection (and what it had asked ahead); log ``error``."""
        self._local.connection = None
        self._local.ahead.lost_connection()
        if connection is not None:
            connection.close()
        if error is not None:
            logger.debug("tierfs daemon at %s: %s", self.address, error)


class HttpBlockTier(Tier):
    """A read-only view of everything the daemon caches, through ``HttpBlocks``."""

    accepts_blocks = False
    offers_views = False
    activity = None  # read-only: no background work
    corrupt_blocks = 0

    def __init__(self, spec: TierSpec, blocks: HttpBlocks):
        self.spec = spec
        self._blocks = blocks

    def get(self, key: str, start: int, end: int | None):
        return self._blocks.read(key, start, end)

    def get_block(self, key: str) -> memoryview | None:
        return self._blocks.read(key, 0, None)  # the memory tier copies only a part of a body

    def read_into(self, key: str, start: int, end: int, dest: memoryview) -> bool:
        return self._blocks.read(key, start, end, dest) is not None

    def expect(self, blocks: list[tuple[str, int]]) -> None:
        self._blocks.expect(blocks)

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
