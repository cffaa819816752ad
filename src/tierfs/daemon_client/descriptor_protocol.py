"""The descriptor-passing protocol on the daemon's second unix socket, in one place.

aiohttp cannot pass file descriptors, so block files are handed out on a socket of
their own (like HDFS's short-circuit domain socket). Every message is a frame: a 4-byte
little-endian length, then a JSON object. A client says ``hello`` (with the daemon's
token, if it has one) and then asks ``open`` for block keys; each answer is a frame
``{"found": "fd"}`` carrying one read-only descriptor of the block file (SCM_RIGHTS),
``{"found": "bytes", "length": n}`` followed by ``n`` raw bytes (a block only in the
daemon's memory), or ``{"found": null}``. ``open_many`` asks for up to ``MAX_KEYS`` keys
at once (a file just opened): one frame ``{"found": [true, false, ...]}`` carries a
descriptor for each key found in a tier directory, in order. A refused hello is answered
``{"error": ...}`` and the connection closed.
"""

from __future__ import annotations

import json
import socket
import struct

HELLO = "hello"
OPEN = "open"
OPEN_MANY = "open_many"
MAX_KEYS = 64  # keys of one open_many, and so descriptors of one frame (Linux allows 253)
FD = "fd"
BYTES = "bytes"

_LENGTH = struct.Struct("<I")
MAX_FRAME = 64 * 2**10  # a frame is a small JSON object; a longer one is a protocol error


class ProtocolError(ConnectionError):
    """The other side sent something that is not this protocol, or hung up mid-message."""


def encode(message: dict) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    return _LENGTH.pack(len(body)) + body


class FrameReader:
    """Reads frames (and the descriptors that come with them) from a stream socket."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._buffer = bytearray()

    def _fill(self, size: int, fds: list[int] | None) -> None:
        while len(self._buffer) < size:
            if fds is None:
                data = self.sock.recv(max(65536, size - len(self._buffer)))
            else:
                data, received, flags, _ = socket.recv_fds(self.sock, 65536, MAX_KEYS)
                fds.extend(received)
                if flags & socket.MSG_CTRUNC:  # no room in our descriptor table
                    raise ProtocolError("a descriptor was dropped (too many open files?)")
            if not data:
                raise ProtocolError("connection closed mid-message")
            self._buffer += data

    def read(self, with_fds: bool = False) -> tuple[dict, list[int]]:
        """The next frame's object and the descriptors that arrived with it."""
        fds: list[int] | None = [] if with_fds else None
        try:
            self._fill(_LENGTH.size, fds)
            (length,) = _LENGTH.unpack_from(self._buffer)
            if length > MAX_FRAME:
                raise ProtocolError(f"frame of {length} bytes is longer than {MAX_FRAME}")
            self._fill(_LENGTH.size + length, fds)
            body = bytes(self._buffer[_LENGTH.size:_LENGTH.size + length])
            del self._buffer[:_LENGTH.size + length]
            message = json.loads(body)
            if not isinstance(message, dict):
                raise ProtocolError("a frame is not a JSON object")
        except (ValueError, ProtocolError) as error:
            for fd in fds or ():
                socket.close(fd)
            if isinstance(error, ProtocolError):
                raise
            raise ProtocolError("malformed frame") from None
        return message, fds or []

    def read_bytes(self, length: int) -> bytes:
        """``length`` raw bytes that follow a frame."""
        self._fill(length, None)
        data = bytes(self._buffer[:length])
        del self._buffer[:length]
        return data
