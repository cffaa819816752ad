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


@pytest.fixture
def bucket(seaweed) -> str:
    """A new, empty bucket for one test."""
    return seaweed.create_bucket("t-" + uuid.uuid4().hex[:12])


@pytest.fixture
def s3(seaweed):
    """A direct s3fs filesystem on the embedded server (no listings cache, so tests see changes)."""
    return fsspec.filesystem(
        "s3", skip_instance_cache=True, use_listings_cache=False, **seaweed.storage_options()
    )
