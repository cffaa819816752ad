"""A pool of client processes (``soak.client``): started together, stopped together.

Used by the daemon fault test (16 clients for seconds) and by ``make soak`` (16 clients
for minutes). Clients are forked from a server that imported tierfs once (16 interpreters
importing it cost more CPU than the test itself); configs and reports travel over pipes.
"""

from __future__ import annotations

import multiprocessing
import tempfile
from collections import Counter
from pathlib import Path

from soak.client import serve

_READY_TIMEOUT_S = 120
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["soak.client", "s3fs", "tierfs.fs", "tierfs.daemon_client.attach"])


class ClientPool:
    def __init__(self, count: int, config: dict, directory: str | Path | None = None):
        """``count`` clients of ``config`` (see ``soak.client``), each with its own seed."""
        self.directory = Path(directory or tempfile.mkdtemp(prefix="tierfs-clients-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        self.stop_file = self.directory / "stop"
        self.marker_file = self.directory / "marker"
        self.config = config | {"stop_file": str(self.stop_file),
                                "marker_file": str(self.marker_file)}
        self.count = count
        self.processes: list = []
        self.connections: list = []

    def start(self) -> ClientPool:
        self.stop_file.unlink(missing_ok=True)
        self.marker_file.unlink(missing_ok=True)
        for seed in range(self.count):
            receiver, sender = _CONTEXT.Pipe(duplex=False)
            process = _CONTEXT.Process(target=serve, args=(self.config | {"seed": seed}, sender),
                                       name=f"soak-client-{seed}", daemon=True)
            process.start()
            sender.close()
            self.processes.append(process)
            self.connections.append(receiver)
        for process, connection in zip(self.processes, self.connections, strict=True):
            if not connection.poll(_READY_TIMEOUT_S) or connection.recv() != "ready":
                self.kill()
                raise RuntimeError(f"a client did not start (exit code {process.exitcode})")
        return self

    def mark(self) -> None:
        """From now on clients count their operations apart (after a restart, say)."""
        self.marker_file.touch()

    def stop(self, timeout: float = _READY_TIMEOUT_S) -> list[dict]:
        """Ask every client to finish; their reports (a client that died reports ``exit``)."""
        self.stop_file.touch()
        reports = []
        for process, connection in zip(self.processes, self.connections, strict=True):
            try:
                if not connection.poll(timeout):
                    raise TimeoutError
                reports.append(connection.recv())
            except (TimeoutError, EOFError):
                process.kill()
                process.join()
                reports.append({"exit": process.exitcode})
            process.join(timeout)
        return reports

    def kill(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.kill()
                process.join()


def merge(reports: list[dict]) -> dict:
    """One report of many: counts and errors summed, latencies pooled, acknowledgements joined."""
    merged: dict = {"counts": Counter(), "errors": Counter(), "unclean": [], "latencies_ms": [],
                    "acknowledged": {}, "clients": len(reports), "dead_clients": 0,
                    "resumed_clients": 0}
    for report in reports:
        if "exit" in report:
            merged["dead_clients"] += 1
            continue
        merged["counts"].update({k: v for k, v in report.items() if isinstance(v, int)})
        merged["errors"].update(report["errors"])
        merged["unclean"] += report["unclean"]
        merged["latencies_ms"] += report["latencies_ms"]
        merged["acknowledged"].update(report["acknowledged"])
        merged["resumed_clients"] += bool(report["daemon_requests_after_marker"])
    return merged


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
