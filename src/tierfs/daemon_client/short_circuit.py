"""Short-circuit reads: a client on the daemon's host reads cached blocks from its files.

Like HDFS short-circuit local reads, the bytes skip the daemon entirely: the client
opens the block file, checks every chunk's checksum, and copies. It never writes,
evicts or indexes anything there; the daemon owns the directories. A tier is used
only if its node-id file matches what the daemon reported, so a client on another
host (or in another mount namespace) never reads a stranger's directory by accident.
"""

from __future__ import annotations

import os
from pathlib import Path

from tierfs.cache import BlockFileTier, TierSpec
from tierfs.daemon_client.hit_reports import HitReporter
from tierfs.daemon_client.protocol import NODE_ID_FILE


def short_circuit_tier(tier: dict, node_id: str, reporter: HitReporter) -> BlockFileTier | None:
    """A read-only tier over the daemon's tier directory described by ``tier``, if this
    process sees the same directory and may read its files; hits go to ``reporter``."""
    path = tier.get("path")
    try:
        visible = (path and (Path(path) / NODE_ID_FILE).read_text().strip() == node_id
                   and _may_read_block_files(Path(path) / "blocks"))
    except OSError:
        visible = False
    if not visible:
        return None
    return BlockFileTier(TierSpec(tier["medium"], int(tier["capacity"]), path),
                         Path(path) / "blocks", reporter.hit)


def _may_read_block_files(blocks: Path) -> bool:
    """Block files are 0600: only the daemon's UID (or root) can open them, whoever
    else sees the directory reads through passed descriptors instead."""
    return os.geteuid() in (0, blocks.stat().st_uid)
