"""The descriptor server: hands clients of this host open block files (SCM_RIGHTS).

A client that cannot open the tier directories (another UID, a pod without the
hostPath) asks for a block by key and gets a read-only descriptor of its file, so it
reads at local speed and verifies the checksums in the file's own header, as a
short-circuit reader does. The daemon closes its copy at once: it holds one socket
per connected client and nothing per block. A block file is never written after it is
renamed into place, and a descriptor names its inode, not a path: eviction unlinks
the file, and a client holding it still reads the block's exact bytes until it notices
(link count 0) and asks again. One thread per connection (``socketserver``), at most
``side_server.MAX_CONNECTIONS``; the protocol is in ``tierfs.daemon_client.descriptor_protocol``.
"""

from __future__ import annotations

import logging
import os
import socket
import socketserver

from tierfs.daemon_client import descriptor_protocol as wire
from tierfs_server.access import SOCKET_MODE, AccessPolicy, peer_of
from tierfs_server.local_blocks import LocalBlocks
from tierfs_server.side_server import SideServer

logger = logging.getLogger(__name__)

class DescriptorServer(SideServer, socketserver.ThreadingUnixStreamServer):
    name = "descriptor server"

    def __init__(self, path: str, blocks: LocalBlocks, policy: AccessPolicy, node_id: str):
        if os.path.exists(path) and not os.path.isdir(path):
            os.unlink(path)  # a stale socket of an earlier run
        super().__init__(path, _Connection,
                         figures=("requests", "descriptors", "inline_blocks", "absent"))
        os.chmod(path, SOCKET_MODE)  # access is decided per connection (access.py)
        self.path = path
        self.blocks = blocks
        self.policy = policy
        self.node_id = node_id  # in the hello's answer: a client checks it is our node

    def close(self) -> None:
        super().close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


class _Connection(socketserver.BaseRequestHandler):
    server: DescriptorServer

    def handle(self) -> None:
        self.server.count("connections")
        try:
            reader = wire.FrameReader(self.request)
            if self._admitted(reader):
                while self._answer(reader):
                    pass
        except (wire.ProtocolError, OSError) as error:
            logger.debug("descriptor client left: %s", type(error).__name__)
        finally:
            self.server.count("connections", -1)

    def _admitted(self, reader: wire.FrameReader) -> bool:
        hello, _ = reader.read()
        token = hello.get("token")
        if hello.get("op") != wire.HELLO or not (token is None or isinstance(token, str)):
            self.request.sendall(wire.encode({"error": "expected hello"}))
            return False
        if not self.server.policy.admits(token, peer_of(self.request)):
            self.server.count("refused")
            self.request.sendall(wire.encode({"error": "not admitted: wrong or missing token, "
                                                       "or a uid/gid not allowed"}))
            return False
        self.request.sendall(wire.encode({"ok": True, "node_id": self.server.node_id}))
        return True

    def _answer(self, reader: wire.FrameReader) -> bool:
        """Answer one request; False when the client hung up."""
        try:
            request, _ = reader.read()
        except wire.ProtocolError:
            return False
        self.server.count("requests")
        key, keys = request.get("key"), request.get("keys")
        if request.get("op") == wire.OPEN_MANY and _key_list(keys):
            return self._open_many(keys)
        if request.get("op") != wire.OPEN or not isinstance(key, str):
            self.request.sendall(wire.encode({"error": "expected open with a key, or open_many "
                                                       f"with 1 to {wire.MAX_KEYS} keys"}))
            return False
        blocks = self.server.blocks
        try:
            fd = blocks.open(key)
        except ValueError:
            self.request.sendall(wire.encode({"error": "not a block key"}))
            return False
        if fd is not None:
            try:
                socket.send_fds(self.request, [wire.encode({"found": wire.FD})], [fd])
            finally:
                os.close(fd)
            self.server.count("descriptors")
            return True
        data = blocks.in_memory(key)
        if data is not None:
            self.request.sendall(wire.encode({"found": wire.BYTES, "length": len(data)}))
            self.request.sendall(data)
            self.server.count("inline_blocks")
            return True
        self.request.sendall(wire.encode({"found": None}))
        self.server.count("absent")
        return True

    def _open_many(self, keys: list[str]) -> bool:
        """Descriptors of the files of ``keys`` in one frame; blocks only in memory are
        not found here (a later ``open`` gets their bytes). Not hits: nothing read yet."""
        fds: list[int] = []
        found = []
        try:
            for key in keys:
                fd = self.server.blocks.open(key, hit=False)
                found.append(fd is not None)
                if fd is not None:
                    fds.append(fd)
        except ValueError:
            self.request.sendall(wire.encode({"error": "not a block key"}))
            return False
        finally:
            if len(found) < len(keys):
                for fd in fds:
                    os.close(fd)
        try:
            if fds:
                socket.send_fds(self.request, [wire.encode({"found": found})], fds)
            else:
                self.request.sendall(wire.encode({"found": found}))
        finally:
            for fd in fds:
                os.close(fd)
        self.server.count("descriptors", len(fds))
        self.server.count("absent", len(keys) - len(fds))
        return True


def _key_list(keys) -> bool:
    return (isinstance(keys, list) and 0 < len(keys) <= wire.MAX_KEYS
            and all(isinstance(key, str) for key in keys))
