"""Storage nodes of the EC benchmark: independent SeaweedFS servers, optionally each behind
its own bandwidth-capped link.

The capped model runs every server in a network namespace joined to the host by a veth
pair with a ``tc tbf`` qdisc on both ends (needs root and ``ip``/``tc``), so a node's
ingress and egress are limited like a NIC's. The uncapped model runs them on loopback.
"""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

from tierfs.embedded import EmbeddedS3


def _run(*command: str, namespace: str | None = None) -> None:
    prefix = ["ip", "netns", "exec", namespace] if namespace else []
    subprocess.run(prefix + list(command), check=True, capture_output=True)


def _ip(*args: str, namespace: str | None = None) -> None:
    _run("ip", *args, namespace=namespace)


def capped_model_available() -> bool:
    """Root, and ``ip netns`` and ``tc`` present: the capped model can be built here."""
    if os.geteuid() != 0:
        return False
    try:
        subprocess.run(["ip", "netns", "list"], check=True, capture_output=True)
        subprocess.run(["tc", "-V"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


class CappedNode(EmbeddedS3):
    """SeaweedFS inside network namespace ``tfs-ec<i>``, reached over a capped veth link."""

    def __init__(self, directory: Path, index: int, rate_mbit: float):
        super().__init__(directory)
        self.namespace = f"tfs-ec{index}"
        self.host_link, self.node_link = f"tfsec{index}h", f"tfsec{index}n"
        self.ip = f"10.77.{index}.2"
        _ip("netns", "add", self.namespace)
        _ip("link", "add", self.host_link, "type", "veth", "peer", "name", self.node_link)
        _ip("link", "set", self.node_link, "netns", self.namespace)
        _ip("addr", "add", f"10.77.{index}.1/30", "dev", self.host_link)
        _ip("link", "set", self.host_link, "up")
        _ip("addr", "add", f"{self.ip}/30", "dev", self.node_link, namespace=self.namespace)
        _ip("link", "set", self.node_link, "up", namespace=self.namespace)
        _ip("link", "set", "lo", "up", namespace=self.namespace)
        # both directions: host -> node carries writes, node -> host carries reads
        tbf = ["root", "tbf", "rate", f"{rate_mbit}mbit", "burst", "256kb", "latency", "100ms"]
        _run("tc", "qdisc", "add", "dev", self.host_link, *tbf)
        _run("tc", "qdisc", "add", "dev", self.node_link, *tbf, namespace=self.namespace)

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.ip}:{self.s3_port}"

    def minio_client(self, retries: bool = True):
        """The base class's client, pointed at this node's address instead of loopback."""
        from minio import Minio

        client = super().minio_client(retries=retries)
        return Minio(f"{self.ip}:{self.s3_port}", access_key=self.access_key,
                     secret_key=self.secret_key, secure=False,
                     http_client=client._http)

    def _command(self) -> list[str]:
        command = [arg.replace("127.0.0.1", self.ip) for arg in super()._command()]
        return ["ip", "netns", "exec", self.namespace] + command

    def close(self) -> None:
        super().close()
        subprocess.run(["ip", "netns", "del", self.namespace], capture_output=True)
        subprocess.run(["ip", "link", "del", self.host_link], capture_output=True)

    def bytes_sent_to(self) -> int:
        """Bytes the host has sent into this node's link (the client's upload to it)."""
        return int(Path(f"/sys/class/net/{self.host_link}/statistics/tx_bytes").read_text())


class LoopbackNode(EmbeddedS3):
    """SeaweedFS on 127.0.0.1, uncapped; bytes sent are counted as stored payload instead."""

    bytes_sent_to = None


def node_cpu_seconds(nodes: list[EmbeddedS3]) -> float:
    """User + system CPU seconds used so far by the running node servers."""
    return processes_cpu_seconds(
        node._process.pid for node in nodes
        if node._process is not None and node._process.poll() is None
    )


def processes_cpu_seconds(pids) -> float:
    """User + system CPU seconds of the processes ``pids`` (those gone count nothing)."""
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def each_node(action, nodes: list[EmbeddedS3]) -> None:
    """Run ``action(node)`` on every node at once (a start or a stop takes seconds)."""
    with ThreadPoolExecutor(max(len(nodes), 1)) as pool:
        list(pool.map(action, nodes))
