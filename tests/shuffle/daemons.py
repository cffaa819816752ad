"""A real daemon process serving shuffles, for the shuffle tests (importable by workers)."""

from __future__ import annotations

from pathlib import Path

from tierfs.embedded import free_ports
from tierfs_server.launcher import DaemonProcess, render_config


class ShuffleDaemon:
    def __init__(self, base: Path, with_shuffle: bool = True, port: int | None = None,
                 peers: list[int] | None = None, **shuffle_settings):
        self.base, self.port = Path(base), port or free_ports(1)[0]
        self.shuffle_dir = self.base / "shuffle"
        settings = {"dir": str(self.shuffle_dir), "capacity": "4GiB"} | shuffle_settings
        config = self.base / "daemon.toml"
        self.base.mkdir(parents=True, exist_ok=True)
        sections = {
            "server": {"host": "127.0.0.1", "port": self.port},
            "cache": {"block_size": "1MiB", "tiers": [{"medium": "memory",
                                                       "capacity": "16MiB"}]},
            "mounts": {"local": {"url": f"file://{self.base / 'store'}", "options": {}}},
        }
        if with_shuffle:
            sections["shuffle"] = settings
        if peers:
            sections["peers"] = {"self": f"http://127.0.0.1:{self.port}",
                                 "members": [f"http://127.0.0.1:{p}" for p in peers]}
        config.write_text(render_config(sections))
        self.process = DaemonProcess(config, f"http://127.0.0.1:{self.port}")

    @property
    def url(self) -> str:
        return f"daemon+http://127.0.0.1:{self.port}"

    def start(self) -> ShuffleDaemon:
        self.process.start()
        return self

    def kill(self) -> None:
        self.process.kill()

    def stop(self) -> None:
        self.process.stop()
