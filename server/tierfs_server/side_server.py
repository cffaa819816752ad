"""What the servers beside the HTTP app share: a thread per connection, at most
``MAX_CONNECTIONS`` of them, figures for ``/v1/stats``, and a thread that serves.

Mixed into a ``socketserver`` server class (first, so its ``verify_request`` counts).
"""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger(__name__)

MAX_CONNECTIONS = 256


class SideServer:
    daemon_threads = True
    block_on_close = False
    name = "side server"  # in its thread's name and its log lines

    def __init__(self, *args, figures: tuple[str, ...], **kwargs):
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()
        self.figures = dict.fromkeys(("connections", "refused") + figures, 0)

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.figures[name] += amount

    def stats(self) -> dict:
        with self._lock:
            return dict(self.figures)

    def verify_request(self, request, client_address) -> bool:
        if self.stats()["connections"] >= MAX_CONNECTIONS:
            self.count("refused")
            logger.warning("%s: %d connections, refusing another", self.name, MAX_CONNECTIONS)
            return False
        return True

    def serve_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name=f"tierfs-{self.name}",
                                  daemon=True)
        thread.start()
        logger.warning("tierfs daemon: %s on %s", self.name, self.server_address)
        return thread

    def close(self) -> None:
        self.shutdown()
        self.server_close()
