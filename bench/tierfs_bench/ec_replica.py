"""The three-replica baseline: the HDFS write model over the same nodes as the EC store.

A file is cut into blocks; each block goes to 3 of the nodes (rendezvous-hashed per
block, as HDFS spreads blocks), to all three at once. Reads take each block from its
first reachable replica, nodes that failed asked last. Concurrency matches ecfs's
writer: six uploads in flight.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tierfs.ec.placement import choose_targets

BLOCK_SIZE = 4 * 2**20
REPLICAS = 3
IN_FLIGHT = 6  # concurrent requests, like ecfs's six fragment streams


class ReplicatedStore:
    def __init__(self, nodes: dict[str, object], block_size: int = BLOCK_SIZE):
        """``nodes``: bucket root (as ``bucket``) -> its s3fs filesystem."""
        self.nodes = nodes
        self.block_size = block_size
        self._pool = ThreadPoolExecutor(IN_FLIGHT, thread_name_prefix="replica")
        # nodes that failed a read are asked last from then on, as HDFS's reader keeps
        # a dead-node list (ecfs's targets do the same)
        self.dead: set[str] = set()

    def _blocks(self, size: int) -> range:
        return range(-(-size // self.block_size))

    def _replicas(self, path: str, block: int) -> list[str]:
        return choose_targets(list(self.nodes), f"{path}#{block}", REPLICAS)

    def write(self, path: str, data: bytes) -> None:
        view = memoryview(data)
        tasks = []
        for block in self._blocks(len(data)):
            chunk = bytes(view[block * self.block_size : (block + 1) * self.block_size])
            for root in self._replicas(path, block):
                tasks.append(self._pool.submit(
                    self.nodes[root].pipe_file, f"{root}/{path}.{block}", chunk))
        for task in tasks:
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
