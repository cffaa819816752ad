"""The three-replica baseline: the HDFS write model over the same nodes as the EC store.

Every node holds the same number of blocks and has its own upload stream, as each ecfs
fragment has; reads ask failed nodes last, as HDFS's dead-node list does.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

from tierfs.ec.placement import rank_targets

BLOCK_SIZE = 4 * 2**20
REPLICAS = 3


def replica_nodes(roots: list[str], path: str, block: int) -> list[str]:
    """The nodes of ``block``: replica slots numbered 3 per block, dealt round the ring from a
    per-file first node, so n blocks put 3n/len(roots) blocks on every node (at most one apart)."""
    first = roots.index(rank_targets(roots, path)[0])
    return [roots[(first + REPLICAS * block + i) % len(roots)] for i in range(REPLICAS)]


class ReplicatedStore:
    def __init__(self, nodes: dict[str, object], block_size: int = BLOCK_SIZE):
        """``nodes``: bucket name -> its s3fs filesystem."""
        self.nodes = nodes
        self.roots = list(nodes)
        self.block_size = block_size
        self._pool = ThreadPoolExecutor(len(nodes), thread_name_prefix="replica")
        self.dead: set[str] = set()

    def _blocks(self, size: int) -> range:
        return range(-(-size // self.block_size))

    def _replicas(self, path: str, block: int) -> list[str]:
        return replica_nodes(self.roots, path, block)

    def node_bytes(self, path: str, size: int) -> dict[str, int]:
        """Bytes each node receives for a file of ``size`` bytes (the busiest bounds a write)."""
        sent = dict.fromkeys(self.roots, 0)
        for block in self._blocks(size):
            length = min(self.block_size, size - block * self.block_size)
            for root in self._replicas(path, block):
                sent[root] += length
        return sent

    def write(self, path: str, data: bytes) -> None:
        view = memoryview(data)
        per_node: dict[str, list[int]] = defaultdict(list)
        for block in self._blocks(len(data)):
            for root in self._replicas(path, block):
                per_node[root].append(block)

        def upload(root: str) -> None:
            for block in per_node[root]:
                chunk = bytes(view[block * self.block_size : (block + 1) * self.block_size])
                self.nodes[root].pipe_file(f"{root}/{path}.{block}", chunk)

        for task in [self._pool.submit(upload, root) for root in per_node]:
            task.result()

    def _read_block(self, path: str, block: int) -> bytes:
        error = None
        replicas = sorted(self._replicas(path, block), key=lambda root: root in self.dead)
        for root in replicas:
            try:
                return self.nodes[root].cat_file(f"{root}/{path}.{block}")
            except Exception as failure:  # noqa: BLE001 - the next replica serves
                self.dead.add(root)
                error = failure
        raise OSError(f"all replicas of block {block} of {path} failed: {error}")

    def read(self, path: str, size: int) -> bytes:
        blocks = self._pool.map(lambda block: self._read_block(path, block), self._blocks(size))
        return b"".join(blocks)
