"""Shared fixtures: a real SeaweedFS S3 server for the session and a fresh bucket per test."""

from __future__ import annotations

import uuid

import fsspec
import pytest

from tierfs.embedded import EmbeddedS3


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory) -> EmbeddedS3:
    server = EmbeddedS3(tmp_path_factory.mktemp("seaweed"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def shared_bucket(seaweed) -> str:
    return seaweed.create_bucket("tierfs-tests")


@pytest.fixture
def bucket(shared_bucket) -> str:
    """A new, empty prefix for one test, used like a bucket ("name/key" paths).

    SeaweedFS gives every bucket its own collection of volumes, so a bucket per test
    would exhaust the server's volume slots; a prefix isolates tests just as well.
    """
    return f"{shared_bucket}/{uuid.uuid4().hex[:12]}"


@pytest.fixture
def s3(seaweed):
    """A direct s3fs filesystem on the embedded server (no listings cache, so tests see changes)."""
    return fsspec.filesystem(
        "s3", skip_instance_cache=True, use_listings_cache=False, **seaweed.storage_options()
    )


@pytest.fixture(scope="session")
def dask_client():
    """One Dask cluster of two spawned worker processes for the whole test session."""
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address="127.0.0.1:0") as cluster:
        with distributed.Client(cluster) as client:
            yield client
