"""SeaweedFS's own three-replica replication (``002``): one cluster on 127.0.0.1.

One ``weed master``, three ``weed volume`` servers and one ``weed filer`` with its S3
gateway, each its own process group. Only bucket ``rep3`` is configured, through the
filer's ``fs.configure``, with replication ``002`` (three copies on three servers of one
rack) before it is created; the master keeps its default ``000``, so ``verify_replicas``
(``volume.list``) shows the filer configuration took effect. It is a
benchmark baseline, not a fixture for tierfs itself (that is ``tierfs.embedded``).
"""

from __future__ import annotations

import atexit
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tierfs.embedded import free_ports, weed_binary, write_s3_identity
from tierfs_bench.ec_nodes import processes_cpu_seconds

BUCKET = "rep3"
REPLICATION = "002"
VOLUME_SERVERS = 3
_STARTUP_TIMEOUT_S = 60.0


class ReplicationUnavailable(RuntimeError):
    """The cluster could not be started or ``002`` could not be configured (the reason)."""


class ReplicatedSeaweed:
    """Master + three volume servers + filer/S3, with bucket ``rep3`` replicated ``002``."""

    def __init__(self, directory: str | os.PathLike | None = None, *, volume_size_mb: int = 64,
                 max_volumes: int = 30):
        self._owns_directory = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="tierfs-weed-rep3-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        ports = free_ports(3 + VOLUME_SERVERS)
        self.master_port, self.filer_port, self.s3_port = ports[:3]
        self.volume_ports = ports[3:]
        self.volume_size_mb = volume_size_mb
        self.max_volumes = max_volumes
        self.access_key = "tierfs-" + secrets.token_hex(6)
        self.secret_key = secrets.token_hex(20)
        self._processes: list[subprocess.Popen] = []

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def master(self) -> str:
        return f"127.0.0.1:{self.master_port}"

    @property
    def volume_dirs(self) -> list[Path]:
        return [self.directory / f"volume{i}" for i in range(VOLUME_SERVERS)]

    def storage_options(self) -> dict:
        """Keyword arguments for ``s3fs.S3FileSystem``."""
        return {
            "key": self.access_key,
            "secret": self.secret_key,
            "client_kwargs": {"endpoint_url": self.endpoint_url, "region_name": "us-east-1"},
        }

    def _spawn(self, name: str, *args: str) -> subprocess.Popen:
        with open(self.directory / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                [weed_binary(), *args], stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, cwd=self.directory, start_new_session=True)
        self._processes.append(process)
        return process

    def _write_identity(self) -> Path:
        return write_s3_identity(self.directory, self.access_key, self.secret_key)

    def start(self, timeout: float = _STARTUP_TIMEOUT_S) -> ReplicatedSeaweed:
        """Start every server, configure ``002`` for ``/buckets/rep3/``, create the bucket."""
        atexit.register(self.stop)
        local = ["-ip=127.0.0.1", "-ip.bind=127.0.0.1"]
        master_dir = self.directory / "master"
        master_dir.mkdir(exist_ok=True)
        self._spawn("master", "master", *local, f"-port={self.master_port}",
                    f"-mdir={master_dir}", "-telemetry=false",
                    f"-volumeSizeLimitMB={self.volume_size_mb}")
        for index, (port, volume_dir) in enumerate(zip(self.volume_ports, self.volume_dirs,
                                                        strict=True)):
            volume_dir.mkdir(exist_ok=True)
            self._spawn(f"volume{index}", "volume", *local, f"-port={port}",
                        f"-dir={volume_dir}", f"-max={self.max_volumes}",
                        f"-mserver={self.master}", "-preStopSeconds=0")
        filer_dir = self.directory / "filer"
        filer_dir.mkdir(exist_ok=True)
        self._spawn("filer", "filer", *local, f"-port={self.filer_port}",
                    f"-master={self.master}", f"-defaultStoreDir={filer_dir}",
                    "-s3", f"-s3.port={self.s3_port}", f"-s3.config={self._write_identity()}",
                    "-s3.port.iceberg=0", "-s3.port.lance=0")
        try:
            self._wait_for_volume_servers(timeout)
            self._configure_replication(timeout)
            self._create_bucket(timeout)
        except Exception:
            self.stop()
            raise
        return self

    def _check_alive(self) -> None:
        for process in self._processes:
            if process.poll() is not None:
                raise ReplicationUnavailable(
                    f"{' '.join(process.args[1:2])} exited with code {process.returncode}; "
                    f"see the logs in {self.directory}")

    def shell(self, commands: str, timeout: float = 30.0) -> str:
        """Run ``weed shell`` commands against this cluster; returns its output."""
        result = subprocess.run(
            [weed_binary(), "shell", f"-master={self.master}",
             f"-filer=127.0.0.1:{self.filer_port}"],
            input=commands + "\n", capture_output=True, text=True, timeout=timeout,
            cwd=self.directory)
        return result.stdout + result.stderr

    def _wait_for_volume_servers(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            # cluster.ps lists every volume server registered with the master
            listing = self.shell("cluster.ps")
            if all(f"127.0.0.1:{port}" in listing for port in self.volume_ports):
                return
            if time.monotonic() > deadline:
                raise ReplicationUnavailable(
                    f"the {VOLUME_SERVERS} volume servers did not register with the master "
                    f"in {timeout:.0f}s: {listing[-500:]}")
            time.sleep(0.5)

    def _configure_replication(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        command = (f"fs.configure -locationPrefix=/buckets/{BUCKET}/ "
                   f"-replication={REPLICATION} -apply")
        while True:
            self._check_alive()
            self.shell(command)
            shown = self.shell("fs.configure")
            if re.search(rf"/buckets/{BUCKET}/.*?{REPLICATION}", shown, re.DOTALL):
                return
            if time.monotonic() > deadline:
                raise ReplicationUnavailable(
                    f"fs.configure did not record replication {REPLICATION} for "
                    f"/buckets/{BUCKET}/: {shown[-500:]}")
            time.sleep(0.5)

    def _create_bucket(self, timeout: float) -> None:
        import s3fs

        fs = s3fs.S3FileSystem(skip_instance_cache=True, **self.storage_options(),
                               config_kwargs={"retries": {"max_attempts": 1},
                                              "connect_timeout": 2})
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if not fs.exists(BUCKET):
                    fs.mkdir(BUCKET)
                fs.pipe_file(f"{BUCKET}/.ready", b"ready")
                return
            except Exception as error:  # noqa: BLE001 - any failure means "not ready yet"
                last_error = error
                fs.invalidate_cache()
                time.sleep(0.5)
        raise ReplicationUnavailable(
            f"bucket {BUCKET} could not be written in {timeout:.0f}s: {last_error}")

    def stored_bytes(self) -> int:
        """Bytes in the ``.dat`` files of all volume servers (every replica counted)."""
        return sum(path.stat().st_size for volume_dir in self.volume_dirs
                   for path in volume_dir.glob("*.dat"))

    def cpu_seconds(self) -> float:
        """User + system CPU seconds used so far by the cluster's running servers."""
        return processes_cpu_seconds(p.pid for p in self._processes if p.poll() is None)

    def bucket_replica_placement(self) -> dict[int, list[str]]:
        """Volume id -> the volume servers holding it, for the bucket's collection.

        Raises ``ReplicationUnavailable`` if a volume of the collection is not ``002``.
        """
        listing = self.shell("volume.list")
        placement: dict[int, list[str]] = {}
        server = None
        for line in listing.splitlines():
            node = re.search(r"DataNode (\S+)", line)
            if node:
                server = node.group(1)
            # "volume Id:1, Size:0, ReplicaPlacement:002, Collection:rep3, ..."
            volume = re.search(r"volume Id:(\d+),.*?ReplicaPlacement:(\d+), Collection:([^,]*),",
                               line)
            if volume and volume.group(3) == BUCKET:
                if volume.group(2) != REPLICATION:
                    raise ReplicationUnavailable(
                        f"volume {volume.group(1)} of {BUCKET} is not {REPLICATION}: {line}")
                placement.setdefault(int(volume.group(1)), []).append(server)
        return placement

    def verify_replicas(self) -> dict[int, list[str]]:
        """Check that every volume of the bucket is on three distinct servers."""
        placement = self.bucket_replica_placement()
        if not placement:
            raise ReplicationUnavailable(f"no volume of collection {BUCKET} in volume.list")
        for volume, servers in placement.items():
            if len(set(servers)) != VOLUME_SERVERS:
                raise ReplicationUnavailable(
                    f"volume {volume} of {BUCKET} is on {servers}, not on 3 servers")
        return placement

    def stop(self) -> None:
        """Stop every process group: SIGTERM, then SIGKILL after 3 s (the filer may linger)."""
        processes, self._processes = self._processes, []
        atexit.unregister(self.stop)
        for process in reversed(processes):  # filer first, master last
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + 3.0
        for process in processes:
            try:
                process.wait(max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()

    def __enter__(self) -> ReplicatedSeaweed:
        return self.start()

    def close(self) -> None:
        """Stop the servers and remove the directory if this instance created it."""
        self.stop()
        if self._owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __exit__(self, *exc_info) -> None:
        self.close()
