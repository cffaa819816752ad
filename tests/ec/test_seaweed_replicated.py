"""SeaweedFS's own ``002`` replication, the second replica baseline of ``tierfs-bench ec``:
one cluster of three volume servers really keeps three copies of what S3 writes."""

from __future__ import annotations

import os

import pytest
import s3fs

from tierfs_bench.ec_seaweed_replicated import BUCKET, ReplicatedSeaweed


@pytest.fixture(scope="module")
def replicated_cluster(tmp_path_factory) -> ReplicatedSeaweed:
    cluster = ReplicatedSeaweed(tmp_path_factory.mktemp("rep3"), volume_size_mb=8,
                                max_volumes=10)
    with cluster:
        yield cluster


def test_an_object_written_through_s3_is_stored_three_times(replicated_cluster):
    fs = s3fs.S3FileSystem(skip_instance_cache=True, **replicated_cluster.storage_options())
    data = os.urandom(2 * 2**20)
    before = replicated_cluster.stored_bytes()

    fs.pipe_file(f"{BUCKET}/object", data)

    assert fs.cat_file(f"{BUCKET}/object") == data
    stored = replicated_cluster.stored_bytes() - before
    assert 2.95 * len(data) <= stored <= 3.05 * len(data)


def test_every_volume_of_the_bucket_is_on_all_three_volume_servers(replicated_cluster):
    placement = replicated_cluster.verify_replicas()

    assert placement
    assert all(len(set(servers)) == 3 for servers in placement.values())
