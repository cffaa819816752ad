"""A client process of the daemon under load: random ranged reads, checked byte for byte,
and optionally writes through the daemon's write-back buffer.

``serve(config, connection)`` runs in a process of ``soak.pool.ClientPool``. The config:
``storage_options``, ``daemon``, ``objects`` ({path: size}), ``stop_file``, ``marker_file``
(operations after it appears are counted apart: did the client resume?), ``seed``, and for
writes ``write_root`` and ``write_every`` (one write per N operations). It sends ``ready``,
then one report of counts once ``stop_file`` exists.
"""

from __future__ import annotations

import collections
import os
import random
import time

import fsspec
from botocore.exceptions import BotoCoreError

from soak.payloads import payload

WRITE_SIZE = 64 * 1024
# named failures: OSError, and botocore's own errors, which s3fs raises unwrapped when the
# endpoint does not answer at all (EndpointConnectionError) and tierfs passes on as they are
CLEAN_ERRORS = (OSError, BotoCoreError)


class Client:
    def __init__(self, config: dict):
        self.config = config
        self.rng = random.Random(config["seed"])
        options = {"write_mode": "back"} if config.get("write_root") else {}
        self.fs = fsspec.filesystem(
            "tierfs", target_protocol="s3", target_options=config["storage_options"],
            daemon=config["daemon"], skip_instance_cache=True, **options)
        self.expected = {path: payload(path, size) for path, size in config["objects"].items()}
        self.counts = collections.Counter()
        self.errors: collections.Counter[str] = collections.Counter()
        self.unclean: list[str] = []
        self.latencies_ms: list[float] = []
        self.acknowledged: dict[str, int] = {}
        self._daemon_requests_at_marker: int | None = None

    def run(self) -> dict:
        operation = 0
        while not os.path.exists(self.config["stop_file"]):
            operation += 1
            every = self.config.get("write_every")
            write = bool(self.config.get("write_root")) and every and operation % every == 0
            started = time.perf_counter()
            try:
                self._write(operation) if write else self._read()
            except CLEAN_ERRORS as error:  # DaemonUnavailable, ConnectionError...: named
                self.errors[type(error).__name__] += 1
                time.sleep(0.05)
                continue
            except Exception as error:  # noqa: BLE001 - anything else is reported as unclean
                self.unclean.append(f"{type(error).__name__}: {error}"[:300])
                time.sleep(0.05)
                continue
            self.latencies_ms.append(round((time.perf_counter() - started) * 1000, 3))
            self._after_marker()
        return self.report()

    def _read(self) -> None:
        path = self.rng.choice(list(self.expected))
        expected = self.expected[path]
        start = self.rng.randrange(len(expected))
        end = min(len(expected), start + self.rng.randrange(1, 512 * 1024))
        got = self.fs.cat_file(path, start, end)
        want = expected[start:end]
        self.counts["reads"] += 1
        self.counts["bytes_verified"] += len(want)
        if got != want:
            self.counts["wrong_bytes"] += sum(a != b for a, b in zip(got, want, strict=False))
            self.counts["wrong_bytes"] += abs(len(got) - len(want))

    def _write(self, operation: int) -> None:
        path = f"{self.config['write_root']}/c{self.config['seed']}-{operation:07d}"
        self.fs.pipe_file(path, payload(path, WRITE_SIZE))
        self.acknowledged[path] = WRITE_SIZE
        self.counts["writes"] += 1

    def _after_marker(self) -> None:
        if not os.path.exists(self.config.get("marker_file") or "/nonexistent"):
            return
        if self._daemon_requests_at_marker is None:
            self._daemon_requests_at_marker = self._daemon_requests()
        self.counts["operations_after_marker"] += 1

    def _daemon_requests(self) -> int:
        return self.fs.cache_stats()["daemon_requests"]  # blocks the daemon served

    def report(self) -> dict:
        after = None
        if self._daemon_requests_at_marker is not None:
            after = self._daemon_requests() - self._daemon_requests_at_marker
        return {**self.counts, "errors": dict(self.errors), "unclean": self.unclean,
                "latencies_ms": self.latencies_ms, "acknowledged": self.acknowledged,
                "daemon_requests_after_marker": after}


def serve(config: dict, connection) -> None:
    """The body of a pool's client process: ``ready``, then its report, on ``connection``."""
    client = Client(config)
    connection.send("ready")
    connection.send(client.run())
