"""Shuffle services on real backends: local files, SeaweedFS (s3 and tierfs::s3), the daemon."""

from __future__ import annotations

import pytest

import tierfs.shuffle
from tests.shuffle.daemons import ShuffleDaemon

BACKENDS = ["local", "s3", "tierfs::s3", "daemon"]


@pytest.fixture(scope="session")
def shuffle_daemon(tmp_path_factory) -> ShuffleDaemon:
    """One daemon with a [shuffle] section for the session (tests use their own shuffle ids)."""
    daemon = ShuffleDaemon(tmp_path_factory.mktemp("shuffle-daemon")).start()
    yield daemon
    daemon.stop()


@pytest.fixture
def open_backend(request, tmp_path, seaweed, bucket):
    """``open_backend(name, **options)``: a shuffle service of that backend, empty."""

    def open_(name: str, **options) -> tierfs.shuffle.ShuffleService:
        if name == "local":
            return tierfs.shuffle.open_service(f"local://{tmp_path}/shuffle", **options)
        if name == "s3":
            return tierfs.shuffle.open_service(f"s3://{bucket}/shuffle",
                                               **seaweed.storage_options(), **options)
        if name == "tierfs::s3":
            tiers = [{"medium": "memory", "capacity": "64MiB"}]
            return tierfs.shuffle.open_service(
                f"tierfs::s3://{bucket}/shuffle", s3=seaweed.storage_options(),
                tierfs={"tiers": tiers, "skip_instance_cache": True}, **options)
        if name == "daemon":
            return tierfs.shuffle.open_service(request.getfixturevalue("shuffle_daemon").url,
                                               **options)
        raise ValueError(name)

    return open_


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param
