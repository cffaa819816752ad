"""Starting a daemon as a real child process: for tests, benchmarks and the demo.

``render_config`` writes the TOML a daemon reads (JSON strings are TOML strings, which
covers the shapes a config uses); ``DaemonProcess`` starts ``python -m tierfs daemon``
in its own process group, waits for ``/healthz``, and can kill it for real.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


def toml_value(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def render_config(sections: dict) -> str:
    """TOML for ``{"server": {...}, "cache": {...}, "mounts": {name: {...}}, "peers": {...}}``."""
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
    token: str | None = field(default=None, repr=False)
    cafile: str | None = None  # to verify an https:// daemon
    process: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.config_path.with_suffix(".log")

    def start(self, timeout: float = 30.0) -> DaemonProcess:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tierfs", "daemon", "--config", str(self.config_path)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daemon exited: {self.log_path.read_text()[-2000:]}")
            if self.get("/healthz")[0] == 200:
                return self
            time.sleep(0.1)
        raise TimeoutError(f"daemon not healthy: {self.log_path.read_text()[-2000:]}")

    def get(self, route: str, token: str | None = None) -> tuple[int, bytes]:
        """Status and body of a GET; 0 when nothing answers."""
        request = urllib.request.Request(self.url + route)
        if token or self.token:
            request.add_header("Authorization", f"Bearer {token or self.token}")
        context = ssl.create_default_context(cafile=self.cafile) if self.cafile else None
        try:
            with urllib.request.urlopen(request, timeout=10, context=context) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except OSError:
            return 0, b""

    def stats(self) -> dict:
        status, body = self.get("/v1/stats")
        if status != 200:
            raise RuntimeError(f"daemon stats: HTTP {status}: {body[:200]!r}")
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
