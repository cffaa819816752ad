"""Where ``tierfs-bench engines`` reads, and the three ways an engine reaches it.

A pass of an engine reaches the store straight through s3fs, through tierfs with tiers of
its own, or through tierfs and a real daemon process; it reports its seconds, the bytes its
processes fetched from the store, and what was wrong with its result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tierfs.embedded import free_ports
from tierfs_server.launcher import DaemonProcess, render_config

MiB = 2**20
_DAEMON_MEMORY_TIER = "256MiB"


@dataclass(frozen=True)
class Store:
    """The bucket (or ``bucket/prefix``) the data lives in and the s3fs options to reach it."""

    root: str
    options: dict

    @property
    def bucket(self) -> str:
        return self.root.split("/")[0]

    @property
    def data(self) -> str:
        """Where the engines write their data sets (removed when the scenario ends)."""
        return f"{self.root}/engines-data"


@dataclass(frozen=True)
class Access:
    """How one pass reaches the store: ``tierfs`` holds tierfs's options (its tiers, or a
    daemon), ``None`` means straight through s3fs; ``daemon`` is the process to ask for
    what it fetched."""

    tierfs: dict | None = None
    daemon: DaemonProcess | None = None

    def daemon_fetched(self) -> int:
        return self.daemon.stats()["under_store_bytes"] if self.daemon else 0


@dataclass
class PassResult:
    seconds: float
    fetched: int | None  # bytes fetched from the store by the engine's processes; None: not counted
    problems: list[str] = field(default_factory=list)


def own_tiers(directory: Path, ssd_capacity: int) -> Access:
    """tierfs in every client process over one ssd tier they share. No private memory tier:
    DataLoader workers live one epoch, and promoting every hit into one cost a warm epoch
    time for copies nobody reads again."""
    return Access({"tiers": [{"medium": "ssd", "path": str(directory), "capacity": ssd_capacity}]})


def start_daemon(store: Store, directory: Path, ssd_capacity: int) -> DaemonProcess:
    """A real daemon process, with empty tiers in ``directory``, mounting the store's bucket."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_ports(1)[0]
    config = directory / "daemon.toml"
    config.write_text(render_config({
        "server": {"host": "127.0.0.1", "port": port},
        "cache": {"tiers": [{"medium": "memory", "capacity": _DAEMON_MEMORY_TIER},
                            {"medium": "ssd", "path": str(directory / "ssd"),
                             "capacity": ssd_capacity}]},
        "mounts": {"bench": {"url": f"s3://{store.bucket}", "options": store.options}},
    }))
    return DaemonProcess(config, f"http://127.0.0.1:{port}").start()


def through_daemon(daemon: DaemonProcess) -> Access:
    return Access({"daemon": daemon.url}, daemon)
