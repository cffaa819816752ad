"""Real daemon processes for the tests: started from a TOML file, killed for real."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tierfs.embedded import free_ports


def toml_value(value) -> str:
    """TOML for the few shapes a daemon config uses (JSON strings are TOML strings)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def render_config(sections: dict) -> str:
    lines = []
    for section, table in sections.items():
        if section == "mounts":
            for name, mount in table.items():
                lines.append(f"[mounts.{name}]")
                lines += [f"{k} = {toml_value(v)}" for k, v in mount.items()]
            continue
        lines.append(f"[{section}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


@dataclass
class DaemonProcess:
    config_path: Path
    url: str
    token: str | None = None
    process: subprocess.Popen | None = None
    log_path: Path = field(default=None)

    def start(self, timeout: float = 30.0) -> DaemonProcess:
        self.log_path = self.config_path.with_suffix(".log")
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tierfs", "daemon", "--config", str(self.config_path)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daemon exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"daemon not healthy: {self.log_path.read_text()[-2000:]}")

    def get(self, route: str, token: str | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url + route)
        if token or self.token:
            request.add_header("Authorization", f"Bearer {token or self.token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def stats(self) -> dict:
        status, body = self.get("/v1/stats")
        assert status == 200, body
        return json.loads(body)

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def terminate(self) -> int:
        os.killpg(self.process.pid, signal.SIGTERM)
        return self.process.wait(40)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()


@pytest.fixture
def start_daemon(seaweed, shared_bucket, tmp_path):
    """Start daemons over the shared test bucket; every one is killed at teardown."""
    started: list[DaemonProcess] = []

    def start(name: str = "d0", *, tiers=None, peers=None, server=None,
              port: int | None = None) -> DaemonProcess:
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
        base.mkdir(parents=True, exist_ok=True)
        config_path = base / "daemon.toml"
        config_path.write_text(render_config(sections))
        daemon = DaemonProcess(config_path, f"http://127.0.0.1:{port}", server.get("token"))
        started.append(daemon)
        return daemon.start()

    yield start
    for daemon in started:
        daemon.stop()
