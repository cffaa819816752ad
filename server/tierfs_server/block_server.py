"""The data port: ranges of cached blocks over kept-alive HTTP/1.1, a thread per connection.

Through aiohttp, a small hit cost several times its bytes' time in the per-request path
(parser, middlewares, router, event-loop wake-ups; docs/performance.md). This server
answers one request shape, ``GET /v1/blocks/{key}`` with an optional ``Range``,
from a blocked ``recv`` straight to a ``pread`` or ``sendfile`` of the verified block
file, like HDFS's separate DataNode transfer port beside its HTTP port. Between requests a
connection polls briefly for the next one (``busy_poll``). Clients learn the port from
``/v1/describe``; the token decides access, as on the main port. A malformed request is
answered and its connection closed.
"""

from __future__ import annotations

import logging
import os
import socket
import socketserver
import ssl

from tierfs.busy_poll import BusyPoll
from tierfs.daemon_client.protocol import BLOCK_RANGE
from tierfs_server.access import AccessPolicy
from tierfs_server.local_blocks import LocalBlocks
from tierfs_server.side_server import SideServer

logger = logging.getLogger(__name__)

_MAX_HEAD = 16 * 2**10
_PREFIX = BLOCK_RANGE.split("{")[0]  # "/v1/blocks/"
_TYPE = "Content-Type: application/octet-stream\r\n"


class BadRequest(Exception):
    """A request this port does not answer: (status, reason); the connection then closes."""


class BlockServer(SideServer, socketserver.ThreadingTCPServer):
    name = "block server"
    allow_reuse_address = True
    request_queue_size = 128  # clients connecting at once wait in the backlog, not in SYN retries

    def __init__(self, host: str, port: int, blocks: LocalBlocks, policy: AccessPolicy,
                 tls: ssl.SSLContext | None = None, poll: BusyPoll | None = None):
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), _Connection, figures=("requests", "bad_requests"))
        self.blocks = blocks
        self.policy = policy
        self.tls = tls
        self.poll = poll or BusyPoll(0)

    def stats(self) -> dict:
        return super().stats() | self.poll.figures

    @property
    def port(self) -> int:
        return self.server_address[1]


class _Connection(socketserver.BaseRequestHandler):
    server: BlockServer

    def handle(self) -> None:
        self.server.count("connections")
        sock = self.request
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.server.tls is not None:
                sock = self.server.tls.wrap_socket(sock, server_side=True)
            pending = bytearray()
            while self._answer(sock, pending):
                pass
        except (OSError, ValueError) as error:
            logger.debug("block client left: %s", type(error).__name__)
        finally:
            self.server.count("connections", -1)

    def _answer(self, sock, pending: bytearray) -> bool:
        """Answer one request; False when the connection is to close."""
        head = _read_head(sock, pending, self.server.poll)
        if head is None:
            return False
        self.server.count("requests")
        try:
            key, start, end, headers = _parse(head)
            if not self._admitted(headers):
                raise BadRequest(401, "missing or wrong bearer token")
            try:
                found = self.server.blocks.span(key, start, end)
            except ValueError as error:  # not a block key: no name leaves the tiers
                raise BadRequest(400, str(error)) from None
        except BadRequest as error:
            status, reason = error.args
            self.server.count("bad_requests")
            body = reason.encode()
            _send(sock, _head(status, len(body), close=True), body)
            return False
        partial = start > 0 or end is not None
        if found is None:
            _send(sock, _head(404, 16), b"block not cached")
        elif isinstance(found, memoryview):
            _send(sock, _head(206 if partial else 200, len(found), start), found)
        else:
            self._send_file(sock, found, 206 if partial else 200, start)
        return headers.get("connection", "").lower() != "close"

    def _admitted(self, headers: dict[str, str]) -> bool:
        policy = self.server.policy
        if policy.open_to_all:
            return True
        scheme, _, given = headers.get("authorization", "").partition(" ")
        return policy.admits(given if scheme == "Bearer" else None, None)

    @staticmethod
    def _send_file(sock, found: tuple[int, int, int], status: int, start: int) -> None:
        fd, offset, count = found
        try:
            sock.sendall(_head(status, count, start))
            if isinstance(sock, ssl.SSLSocket):  # TLS encrypts in user space: no sendfile
                sock.sendall(os.pread(fd, count, offset))
                return
            while count:
                sent = os.sendfile(sock.fileno(), fd, offset, count)
                if not sent:
                    raise ConnectionResetError("the client closed the connection")
                offset, count = offset + sent, count - sent
        finally:
            os.close(fd)


def _read_head(sock, pending: bytearray, poll: BusyPoll) -> bytes | None:
    """The next request's head (through the blank line), or None once the peer closed."""
    while (end := pending.find(b"\r\n\r\n")) < 0:
        if len(pending) > _MAX_HEAD:
            raise ValueError("request head too long")
        poll.wait(sock)
        data = sock.recv(_MAX_HEAD)
        if not data:
            return None
        pending += data
    head = bytes(pending[:end])
    del pending[:end + 4]
    return head


def _parse(head: bytes) -> tuple[str, int, int | None, dict[str, str]]:
    """(block key, start, end or None, headers) of a ``GET /v1/blocks/{key}`` request."""
    request_line, *lines = head.decode("latin-1").split("\r\n")
    method, _, rest = request_line.partition(" ")
    target, _, version = rest.partition(" ")
    if method != "GET" or not version.startswith("HTTP/1."):
        raise BadRequest(405, "only GET of /v1/blocks/{key}")
    if not target.startswith(_PREFIX) or "?" in target:
        raise BadRequest(404, "only /v1/blocks/{key} is served on this port")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("content-length", "0") != "0" or "transfer-encoding" in headers:
        raise BadRequest(400, "a block request has no body")
    start, end = _range(headers.get("range"))
    return target[len(_PREFIX):], start, end, headers


def _range(value: str | None) -> tuple[int, int | None]:
    """``bytes=START-END`` (inclusive) or ``bytes=START-`` as [start, end); none: all."""
    if value is None:
        return 0, None
    unit, _, spec = value.partition("=")
    first, dash, last = spec.partition("-")
    if (unit.strip() != "bytes" or not dash or not first.isdigit()
            or not (last == "" or last.isdigit())):
        raise BadRequest(400, "Range: expected bytes=START-END")
    start = int(first)
    if last == "":
        return start, None
    if int(last) < start:
        raise BadRequest(400, "Range: END before START")
    return start, int(last) + 1


_REASONS = {200: "OK", 206: "Partial Content", 400: "Bad Request", 401: "Unauthorized",
            404: "Not Found", 405: "Method Not Allowed"}


def _head(status: int, length: int, start: int = 0, close: bool = False) -> bytes:
    extra = _TYPE
    if status == 206 and length:
        extra += f"Content-Range: bytes {start}-{start + length - 1}/*\r\n"
    if close:
        extra += "Connection: close\r\n"
    return (f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Length: {length}\r\n"
            f"{extra}\r\n").encode()


def _send(sock, head: bytes, body) -> None:
    """Head and body in one gathering call, neither copied (TLS: joined for one record)."""
    if isinstance(sock, ssl.SSLSocket):
        sock.sendall(head + bytes(body))
        return
    parts = [memoryview(head), memoryview(body)]
    while parts:
        sent = sock.sendmsg(parts)
        while parts and sent >= len(parts[0]):
            sent -= len(parts.pop(0))
        if parts:
            parts[0] = parts[0][sent:]
