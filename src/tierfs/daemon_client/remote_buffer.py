"""The daemon's write-back buffer, seen from a client: the ``WriteBackBuffer`` interface over HTTP.

With ``write_mode="back"`` and a daemon, writes are acknowledged by the daemon once
journaled and fsynced in *its* buffer, so uploads outlive the client process. The
client's ``WriteBack`` mode uses this object exactly as it uses a local buffer.
A file is spooled locally while written (memory, then a temporary file) and sent on
``close()``: the acknowledgement is the daemon's answer.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Callable

from tierfs.daemon_client import protocol
from tierfs.daemon_client.client import DaemonClient
from tierfs.writeback.overlay import BufferedFile, OverlayEntry

_SPOOL_IN_MEMORY = 8 * 2**20


class RemoteWriter(io.RawIOBase):
    def __init__(self, send: Callable[[io.IOBase], None]):
        super().__init__()
        self._send = send
        self._spool = tempfile.SpooledTemporaryFile(_SPOOL_IN_MEMORY)

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        return self._spool.write(data)

    def tell(self) -> int:
        return self._spool.tell()

    def close(self) -> None:
        if self.closed:
            return
        try:
            self._spool.seek(0)
            self._send(self._spool)
        finally:
            self._spool.close()
            super().close()

    def discard(self) -> None:
        self._spool.close()
        super().close()


_LOOKUPS = 3  # overlay answers a lookup trusts before it reads the target instead


class RemoteBuffer:
    def __init__(self, client: DaemonClient, mount_of: Callable[[str], str | None]):
        """``mount_of`` names the daemon mount holding a path (None: not the daemon's)."""
        self.client = client
        self._mount_of = mount_of
        self._copies: tempfile.TemporaryDirectory | None = None  # of a remote daemon's files

    def _mount(self, path: str) -> str:
        mount = self._mount_of(path)
        if mount is None:
            raise ValueError(f"write_mode: the daemon has no mount holding {path!r}; "
                             "write-back through the daemon needs one")
        return mount

    def open_write(self, path: str) -> RemoteWriter:
        mount = self._mount(path)
        return RemoteWriter(lambda spool: self.client.call(
            "PUT", protocol.FILE, params={"mount": mount, "path": path}, data=spool))

    def pipe(self, path: str, data: bytes) -> None:
        self.client.call("PUT", protocol.FILE,
                         params={"mount": self._mount(path), "path": path}, data=data)

    def rm(self, path: str) -> None:
        self.client.call("POST", protocol.REMOVE, json={"mount": self._mount(path), "path": path})

    def mv(self, src: str, dst: str) -> None:
        mount = self._mount(src)
        if self._mount(dst) != mount:
            raise ValueError(f"mv: {src!r} and {dst!r} are in different daemon mounts")
        self.client.call("POST", protocol.MOVE, json={"mount": mount, "src": src, "dst": dst})

    def lookup(self, path: str) -> OverlayEntry | None:
        mount = self._mount_of(path)
        if mount is None:
            return None
        for _ in range(_LOOKUPS):
            entry = self._overlay(mount, path, exact=True).get(path)
            if not isinstance(entry, BufferedFile) or os.access(entry.local_path, os.R_OK):
                return entry
            try:
                return self._local_copy(mount, path, entry)  # the daemon's disk is not ours
            except FileNotFoundError:
                continue  # uploaded and dropped from the buffer since the overlay answered
        return None  # uploaded every time we asked: the target holds a version as new

    def pending(self, prefix: str = "") -> dict[str, OverlayEntry]:
        mount = self._mount_of(prefix)
        return {} if mount is None else self._overlay(mount, prefix, exact=False)

    def _overlay(self, mount: str, path: str, exact: bool) -> dict[str, OverlayEntry]:
        answer = self.client.call("GET", protocol.OVERLAY,
                                  params={"mount": mount, "prefix": path,
                                          "exact": "1" if exact else "0"})
        return protocol.decode_overlay(answer)

    def _local_copy(self, mount: str, path: str, entry: BufferedFile) -> BufferedFile:
        """A private copy of a buffered file of a daemon on another host (removed with us)."""
        data = self.client.download(protocol.FILE, {"mount": mount, "path": path})
        if self._copies is None:
            self._copies = tempfile.TemporaryDirectory(prefix="tierfs-remote-")
        local = os.path.join(self._copies.name, hashlib.sha256(path.encode()).hexdigest())
        with open(local, "wb") as file:
            file.write(data)
        return BufferedFile(local, len(data), entry.mtime)

    def wait_flushed(self, timeout: float | None = None) -> bool:
        answer = self.client.call("POST", protocol.FLUSH, json={"timeout": timeout})
        return bool(answer["flushed"])

    def stats(self) -> dict:
        return self.client.stats().get("writeback", {})

    def close(self) -> None:
        """Nothing to stop: the daemon owns the uploads and their journal."""
