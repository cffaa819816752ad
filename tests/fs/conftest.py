"""Fixtures for the ``tierfs`` protocol over the embedded SeaweedFS."""

from __future__ import annotations

import fsspec
import pytest

BLOCK = 256 * 2**10  # small blocks: boundaries are crossed often and tests stay fast


@pytest.fixture
def make_tierfs(seaweed, tmp_path):
    """Build a fresh tierfs instance over the embedded S3 (no instance cache sharing)."""

    def make(tiers=None, **options):
        if tiers is None:
            tiers = [
                {"medium": "memory", "capacity": "4MiB"},
                {"medium": "ssd", "path": str(tmp_path / "ssd"), "capacity": "8MiB"},
                {"medium": "disk", "path": str(tmp_path / "disk"), "capacity": "32MiB"},
            ]
        options.setdefault("block_size", BLOCK)
        return fsspec.filesystem(
            "tierfs", target_protocol="s3", skip_instance_cache=True,
            target_options=seaweed.storage_options() | {"skip_instance_cache": True},
            tiers=tiers, **options,
        )

    return make
