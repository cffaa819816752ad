"""EC fixtures: six local-directory targets (fast, for exhaustive tests) and six real
SeaweedFS servers (one per storage node, started concurrently once per session)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tierfs.ec import ECFileSystem
from tierfs.embedded import EmbeddedS3

NODES = 6
SMALL_CELL = 4096  # small cells make many-stripe files cheap in local tests


@pytest.fixture
def local_targets(tmp_path) -> list[str]:
    return [f"file://{tmp_path}/node{i}" for i in range(NODES)]


@pytest.fixture
def local_fs(local_targets) -> ECFileSystem:
    return ECFileSystem(targets=local_targets, cell_size=SMALL_CELL, skip_instance_cache=True)


class NodeControl:
    """Stops and starts storage nodes concurrently (each stop takes ~3 s, a start 6-10 s)."""

    @staticmethod
    def _each(action, nodes: list[EmbeddedS3]) -> None:
        with ThreadPoolExecutor(max(len(nodes), 1)) as pool:
            list(pool.map(action, nodes))

    def stop(self, nodes: list[EmbeddedS3]) -> None:
        self._each(EmbeddedS3.stop, nodes)

    def start(self, nodes: list[EmbeddedS3]) -> None:
        self._each(EmbeddedS3.start, nodes)


@pytest.fixture(scope="session")
def node_control() -> NodeControl:
    return NodeControl()


@pytest.fixture(scope="session")
def seaweed_nodes(tmp_path_factory) -> list[EmbeddedS3]:
    """Six independent SeaweedFS servers: the storage nodes of the EC store."""
    nodes = [EmbeddedS3(tmp_path_factory.mktemp(f"node{i}")) for i in range(NODES)]
    NodeControl().start(nodes)
    yield nodes
    NodeControl().stop(nodes)


def node_options(node: EmbeddedS3) -> dict:
    """s3fs options with a short retry budget: ecfs rebuilds around a dead node instead."""
    options = node.storage_options()
    options["config_kwargs"] = {"retries": {"max_attempts": 1}, "connect_timeout": 2}
    return options


@pytest.fixture
def seaweed_store(seaweed_nodes, node_control) -> dict:
    """``ecfs`` arguments for a fresh bucket on each of the six nodes."""
    node_control.start(seaweed_nodes)  # a previous test may have stopped some
    run = uuid.uuid4().hex[:8]
    buckets = [node.create_bucket(f"ec{i}-{run}") for i, node in enumerate(seaweed_nodes)]
    return {
        "targets": [f"s3://{bucket}" for bucket in buckets],
        "target_options": [node_options(node) for node in seaweed_nodes],
        "skip_instance_cache": True,
    }


