"""Who may use the daemon's unix sockets: decided by the daemon, not by file modes.

Both sockets are created writable for every local user (mode 0666), so that pods and
users of other UIDs can reach them; each connection is then admitted by the daemon's
bearer token, or by the peer's credentials (``SO_PEERCRED``) against
``[server] allowed_uids`` / ``allowed_gids``. With neither a token nor those lists, any
local user may read what the daemon caches, as any local user can reach its loopback
port. A TCP peer has no credentials: the token alone decides there, as before.
"""

from __future__ import annotations

import hmac
import socket
import struct
from dataclasses import dataclass, field
from typing import NamedTuple

_UCRED = struct.Struct("3i")  # pid, uid, gid (struct ucred)
SOCKET_MODE = 0o666


class Peer(NamedTuple):
    pid: int
    uid: int
    gid: int


def peer_of(sock) -> Peer | None:
    """The credentials of the process at the other end of a unix socket (None for TCP)."""
    if sock is None or sock.family != socket.AF_UNIX:
        return None
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    return Peer(*_UCRED.unpack(raw))


@dataclass(frozen=True)
class AccessPolicy:
    token: str | None = field(default=None, repr=False)
    uids: frozenset[int] = frozenset()
    gids: frozenset[int] = frozenset()

    @property
    def open_to_all(self) -> bool:
        """Neither a token nor allowed ids: every local user (and loopback peer) may in."""
        return self.token is None and not self.uids and not self.gids

    def admits(self, given_token: str | None, peer: Peer | None) -> bool:
        """Whether a client presenting ``given_token`` (None: none) from ``peer`` may in."""
        if self.token is not None and given_token is not None and hmac.compare_digest(
                given_token.encode(), self.token.encode()):
            return True
        if peer is None:
            return self.token is None
        if peer.uid in self.uids or peer.gid in self.gids:
            return True
        return self.open_to_all
