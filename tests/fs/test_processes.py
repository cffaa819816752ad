"""Several processes share the persistent tier directories safely."""

from __future__ import annotations

import multiprocessing
import os

import fsspec

from tests.fs.conftest import BLOCK


def read_everything(storage_options, tiers, paths, expected_digests, rounds, queue):
    """Runs in a spawned process: read every file ``rounds`` times and check its bytes."""
    import faulthandler
    import hashlib

    # a worker stuck for minutes prints every thread's stack (this test once timed out,
    # and that run could not be reproduced in 40 more)
    faulthandler.dump_traceback_later(180, exit=True)

    fs = fsspec.filesystem("tierfs", target_protocol="s3", target_options=storage_options,
                           tiers=tiers, block_size=BLOCK, skip_instance_cache=True)
    bad = 0
    for round_ in range(rounds):
        for path in paths[round_ % 2::1]:
            digest = hashlib.sha256(fs.cat_file(path)).hexdigest()
            bad += digest != expected_digests[path]
    queue.put((bad, fs.cache_stats()["tiers"]))


def test_four_processes_sharing_tier_directories_read_correct_bytes(seaweed, s3, bucket,
                                                                     tmp_path):
    import hashlib

    files = {f"{bucket}/f{i}": os.urandom(3 * BLOCK + i * 1000) for i in range(8)}
    s3.pipe(files)
    digests = {p: hashlib.sha256(d).hexdigest() for p, d in files.items()}
    # smaller than the data set: the processes evict each other's blocks all the time
    tiers = [
        {"medium": "memory", "capacity": 2 * BLOCK},
        {"medium": "ssd", "path": str(tmp_path / "ssd"), "capacity": 6 * BLOCK},
        {"medium": "disk", "path": str(tmp_path / "disk"), "capacity": 10 * BLOCK},
    ]
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [
        context.Process(target=read_everything,
                        args=(seaweed.storage_options(), tiers, list(files), digests, 3, queue))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=240) for _ in workers]
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    assert [bad for bad, _ in results] == [0, 0, 0, 0]
    # each process may overshoot by at most the block it is inserting
    for _, tier_stats in results:
        for tier in tier_stats:
            assert tier["used"] <= tier["capacity"]
    for name in ("ssd", "disk"):
        on_disk = sum(p.stat().st_size for p in (tmp_path / name / "blocks").rglob("*")
                      if p.is_file())
        assert on_disk <= 10 * BLOCK + 4 * (BLOCK + 4096)
