"""The daemons of other nodes: who owns a block, and whether they are answering.

Every block has one owner among the members, chosen by rendezvous hashing of its
key (stable across processes and machines; a member joining or leaving moves only
the blocks it wins or held). A miss asks the owner before the under store. A peer
that fails is skipped for ``down_seconds``, so a dead node costs one short time-out.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

from tierfs.daemon_client import DaemonClient
from tierfs.ec.placement import rank_targets
from tierfs_server.config import PeerConfig

logger = logging.getLogger(__name__)

_DNS_REFRESH_S = 30.0


class PeerSet:
    def __init__(self, config: PeerConfig, token: str | None):
        self.config = config
        self.self_url = config.self_url
        self._token = token
        self._lock = threading.Lock()
        self._down_until: dict[str, float] = {}
        self._clients: dict[str, DaemonClient] = {}
        self._members = list(config.members)
        self._resolved_at = 0.0

    def members(self) -> list[str]:
        if self.config.dns and time.monotonic() - self._resolved_at > _DNS_REFRESH_S:
            self._members = self._resolve(self.config.dns) or self._members
            self._resolved_at = time.monotonic()
        return self._members

    @staticmethod
    def _resolve(name: str) -> list[str]:
        host, _, port = name.rpartition(":")
        try:
            infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
        except (OSError, ValueError) as error:
            logger.warning("peers.dns: cannot resolve %s: %s", name, error)
            return []
        hosts = {info[4][0] for info in infos}
        return sorted(f"http://[{h}]:{port}" if ":" in h else f"http://{h}:{port}" for h in hosts)

    def owner(self, key: str) -> str | None:
        """The member that owns ``key``, or None when this daemon does (or has no peers)."""
        members = self.members()
        if not members:
            return None
        owner = rank_targets(members, key)[0]
        return None if owner == self.self_url else owner

    def is_down(self, url: str) -> bool:
        with self._lock:
            return self._down_until.get(url, 0.0) > time.monotonic()

    def mark_down(self, url: str, reason: object) -> None:
        logger.warning("peer %s unavailable (%s); skipping it for %.0fs", url, reason,
                       self.config.down_seconds)
        with self._lock:
            self._down_until[url] = time.monotonic() + self.config.down_seconds

    def client(self, url: str) -> DaemonClient:
        with self._lock:
            client = self._clients.get(url)
            if client is None:
                client = self._clients[url] = DaemonClient(
                    url, self._token, connect_timeout=self.config.timeout, timeout=30.0)
            return client

    def status(self) -> list[dict]:
        return [{"url": url, "self": url == self.self_url, "down": self.is_down(url)}
                for url in self.members()]
