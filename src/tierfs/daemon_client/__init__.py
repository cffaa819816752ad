"""The client side of the cache daemon: protocol, HTTP client, short-circuit reads.

``attach`` turns a daemon address into the tiers and fetcher a ``TierFileSystem``
composes; the daemon itself lives in ``server/`` (``tierfs_server``).
"""

from tierfs.daemon_client.attach import Attachment, attach
from tierfs.daemon_client.client import DaemonClient, DaemonUnavailable

__all__ = ["Attachment", "DaemonClient", "DaemonUnavailable", "attach"]
