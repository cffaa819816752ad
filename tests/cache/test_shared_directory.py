"""Processes inserting into one tier directory at once never exceed its capacity."""

from __future__ import annotations

import multiprocessing
import os

from tierfs.cache.block_key import ObjectRef, block_key
from tierfs.cache.config import TierSpec
from tierfs.cache.directory_tier import DirectoryTier
from tierfs.cache.fetch_activity import FetchActivity

BLOCK = 64 * 2**10
SLOT = BLOCK + 4096
CAPACITY = 20 * SLOT


def hammer(path: str, worker: int, queue) -> None:
    tier = DirectoryTier(TierSpec("disk", CAPACITY, path), FetchActivity())
    obj = ObjectRef("s", f"worker-{worker}", 10**9, "v")
    worst = 0
    for index in range(150):
        key = block_key(obj, BLOCK, index)
        data = bytes([index % 251]) * BLOCK
        outcome = tier.put(key, data)
        for victim in outcome.victims:
            victim.release()
        view = tier.get(key, 0, BLOCK)
        assert view is None or bytes(view) == data  # evicted by a sibling is fine; torn is not
        worst = max(worst, tier.usage()[0])
    queue.put(worst)


def test_concurrent_inserters_keep_usage_within_capacity(tmp_path):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=hammer, args=(str(tmp_path), w, queue)) for w in range(4)]
    for worker in workers:
        worker.start()
    worst = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    assert max(worst) <= CAPACITY
    tier = DirectoryTier(TierSpec("disk", CAPACITY, str(tmp_path)), FetchActivity())
    used, blocks = tier.usage()
    files = [p for p in (tmp_path / "blocks").rglob("*") if p.is_file()]
    assert used <= CAPACITY and blocks == len(files)
    assert used == sum(os.path.getsize(p) for p in files)
    assert not list((tmp_path / "staging").iterdir())
