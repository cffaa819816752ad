"""Real daemon processes for the tests: started from a TOML file, killed for real."""

from __future__ import annotations

import pytest

from tierfs.embedded import free_ports
from tierfs_server.launcher import DaemonProcess, render_config


@pytest.fixture
def start_daemon(seaweed, shared_bucket, tmp_path):
    """Start daemons over the shared test bucket; every one is killed at teardown."""
    started: list[DaemonProcess] = []

    def start(name: str = "d0", *, tiers=None, peers=None, server=None,
              port: int | None = None, writeback: dict | None = None) -> DaemonProcess:
        port = port or free_ports(1)[0]
        base = tmp_path / name
        tiers = tiers or [
            {"medium": "memory", "capacity": "64MiB"},
            {"medium": "ssd", "path": str(base / "ssd"), "capacity": "1GiB"},
        ]
        server = {"host": "127.0.0.1", "port": port} | (server or {})
        sections = {
            "server": server,
            "cache": {"block_size": "1MiB", "tiers": tiers},
            "mounts": {"tests": {"url": f"s3://{shared_bucket}",
                                 "options": seaweed.storage_options()}},
        }
        if peers:
            sections["peers"] = peers
        if writeback:
            sections["writeback"] = writeback
        base.mkdir(parents=True, exist_ok=True)
        config_path = base / "daemon.toml"
        config_path.write_text(render_config(sections))
        scheme = "https" if server.get("tls_cert") else "http"
        daemon = DaemonProcess(config_path, f"{scheme}://127.0.0.1:{port}", server.get("token"),
                               cafile=server.get("tls_cert"))
        started.append(daemon)
        return daemon.start()

    yield start
    for daemon in started:
        daemon.stop()
