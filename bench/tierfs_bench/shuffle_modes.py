"""The ways ``tierfs-bench shuffle`` sorts: tierfs's shuffle services and Dask's own shuffles.

A mode turns the records into a sorted Dask DataFrame. tierfs modes name the service
their shuffle went through, so the bench can size and delete it; the services they need
(an embedded SeaweedFS, a daemon with a ``[shuffle]`` section) are started here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import dask.dataframe as dd

from tierfs_bench.shuffle_data import SORT_COLUMN

TIERFS_MODES = ["local", "daemon", "s3", "tierfs::s3"]
DASK_MODES = ["tasks", "disk", "p2p"]
MODES = TIERFS_MODES + DASK_MODES
_TIERFS_TIERS = [{"medium": "memory", "capacity": "64MiB"}]


@dataclass(frozen=True)
class Mode:
    name: str
    description: str
    sort: Callable[[dd.DataFrame, str], dd.DataFrame] | None  # (records, shuffle id)
    service_url: str | None = None  # tierfs modes: where the shuffle's data goes
    service_options: dict | None = None
    unavailable: str | None = None  # why the mode cannot run here

    @property
    def is_tierfs(self) -> bool:
        return self.name in TIERFS_MODES

    def open_service(self):
        from tierfs.shuffle import open_service

        return open_service(self.service_url, **(self.service_options or {}))


def dask_mode(method: str) -> Mode:
    def sort(ddf: dd.DataFrame, shuffle_id: str) -> dd.DataFrame:
        return ddf.sort_values(SORT_COLUMN, shuffle_method=method)

    return Mode(method, f"Dask's ddf.sort_values(shuffle_method={method!r})", sort)


def tierfs_mode(name: str, description: str, url: str, options: dict | None = None) -> Mode:
    def sort(ddf: dd.DataFrame, shuffle_id: str) -> dd.DataFrame:
        from tierfs.shuffle.dask import sort_values

        return sort_values(ddf, SORT_COLUMN, service=url, shuffle_id=shuffle_id,
                           storage_options=options)

    return Mode(name, description, sort, url, options)


@dataclass
class Backends:
    """Where the tierfs modes put their shuffles; S3 and the daemon start on first use."""

    workdir: Path
    stack: ExitStack
    bucket: str
    s3_options: dict | None = None  # given (--endpoint) or of the embedded SeaweedFS
    daemon_capacity: str = "16GiB"
    store_pid: int | None = None  # the embedded SeaweedFS's, whose CPU the s3 modes use
    daemon_pid: int | None = None

    def service_pid(self, mode: str) -> int | None:
        """The process on this machine that serves ``mode``'s shuffle, if one does."""
        return {"s3": self.store_pid, "tierfs::s3": self.store_pid,
                "daemon": self.daemon_pid}.get(mode)

    def s3(self) -> dict:
        if self.s3_options is None:
            from tierfs.embedded import EmbeddedS3

            logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
            directory = self.workdir / "seaweed"
            directory.mkdir(parents=True, exist_ok=True)
            server = EmbeddedS3(directory, volume_size_mb=256)
            self.stack.callback(server.stop)
            server.start()
            self.s3_options, self.store_pid = server.storage_options(), server.pid
        import fsspec

        # fsspec's cached instance: a dropped one closes its session on another thread's loop
        fs = fsspec.filesystem("s3", **self.s3_options)
        if not fs.exists(self.bucket.split("/")[0]):
            fs.mkdir(self.bucket.split("/")[0])
        return self.s3_options

    def daemon_url(self) -> str:
        from tierfs.embedded import free_ports
        from tierfs_server.launcher import DaemonProcess, render_config

        base = self.workdir / "daemon"
        base.mkdir(parents=True, exist_ok=True)
        port = free_ports(1)[0]
        config = base / "daemon.toml"
        config.write_text(render_config({
            "server": {"host": "127.0.0.1", "port": port},
            "cache": {"block_size": "1MiB",
                      "tiers": [{"medium": "memory", "capacity": "16MiB"}]},
            "mounts": {"bench": {"url": f"file://{base / 'store'}", "options": {}}},
            "shuffle": {"dir": str(base / "shuffle"), "capacity": self.daemon_capacity,
                        "retention": 3600},
        }))
        daemon = DaemonProcess(config, f"http://127.0.0.1:{port}")
        self.stack.callback(daemon.stop)
        daemon.start()
        self.daemon_pid = daemon.process.pid
        return f"daemon+http://127.0.0.1:{port}"


def build_mode(name: str, backends: Backends) -> Mode:
    """Mode ``name``, its backend started; a backend that cannot start makes it unavailable."""
    if name in DASK_MODES:
        return dask_mode(name)
    try:
        return _tierfs_mode(name, backends)
    except Exception as error:  # noqa: BLE001 - reported as the mode's row, the rest still run
        return Mode(name, f"tierfs {name}", None,
                    unavailable=f"{type(error).__name__}: {error}")


def _tierfs_mode(name: str, backends: Backends) -> Mode:
    if name == "local":
        return tierfs_mode(name, "tierfs local:// (map output files on the local disk)",
                           f"local://{backends.workdir / 'shuffle-local'}")
    if name == "daemon":
        import tierfs.shuffle.daemon  # noqa: F401 - fails early where the backend is missing

        return tierfs_mode(name, "tierfs daemon (blocks pushed to the node daemon, merged "
                                 "per partition)", backends.daemon_url())
    if name == "s3":
        return tierfs_mode(name, "tierfs s3:// (one object per map on SeaweedFS, ranged reads)",
                           f"s3://{backends.bucket}/shuffle-s3", backends.s3())
    if name == "tierfs::s3":
        return tierfs_mode(name, "tierfs tierfs::s3:// (as s3, through tierfs's fsspec "
                                 "cache with a 64 MiB memory tier)",
                           f"tierfs::s3://{backends.bucket}/shuffle-tierfs",
                           {"s3": backends.s3(),
                            "tierfs": {"tiers": _TIERFS_TIERS, "skip_instance_cache": True}})
    raise ValueError(f"--modes: unknown mode {name!r}; choose from {', '.join(MODES)}")
