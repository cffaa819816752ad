"""Short-circuit reads: a client on the daemon's host reads cached blocks from its files.

Like HDFS short-circuit local reads, the bytes skip the daemon entirely: the client
opens the block file, checks every chunk's checksum, and copies. It never writes,
evicts or indexes anything there; the daemon owns the directories. A tier is used
only if its node-id file matches what the daemon reported, so a client on another
host (or in another mount namespace) never reads a stranger's directory by accident.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from tierfs.cache.block_files import BlockFiles
from tierfs.cache.block_format import CorruptBlock
from tierfs.cache.config import TierSpec
from tierfs.cache.tier import PutOutcome, PutResult
from tierfs.daemon_client.hit_reports import HitReporter
from tierfs.daemon_client.protocol import NODE_ID_FILE

logger = logging.getLogger(__name__)


class ShortCircuitTier:
    """A read-only view of one of the daemon's persistent tiers."""

    accepts_blocks = False
    offers_views = False
    activity = None  # read-only: no background work

    def __init__(self, spec: TierSpec, reporter: HitReporter, files: BlockFiles | None = None):
        """``files`` reads the blocks; by default those in the directory ``spec.path``."""
        self.spec = spec
        self._files = files or BlockFiles(Path(spec.path) / "blocks", self._note_corrupt)
        self._reporter = reporter
        self.corrupt_blocks = 0

    @classmethod
    def if_visible(cls, tier: dict, node_id: str,
                   reporter: HitReporter) -> ShortCircuitTier | None:
        """The tier described by the daemon, if this process sees the same directory."""
        path = tier.get("path")
        try:
            visible = (path and (Path(path) / NODE_ID_FILE).read_text().strip() == node_id
                       and _may_read_block_files(Path(path) / "blocks"))
        except OSError:
            visible = False
        if not visible:
            return None
        return cls(TierSpec(tier["medium"], int(tier["capacity"]), path), reporter)

    def _note_corrupt(self, key: str, error: CorruptBlock) -> None:
        # not ours to delete: the daemon drops it when it next reads the block itself
        logger.warning("short-circuit: corrupt block %s in %s: %s", key, self.spec.path, error)
        self.corrupt_blocks += 1

    def get(self, key: str, start: int, end: int | None):
        view = self._files.read(key, start, end)
        if view is not None:
            self._reporter.hit(key)
        return view

    def get_block(self, key: str) -> bytes | None:
        view = self.get(key, 0, None)
        return None if view is None else view.obj

    def read_into(self, key: str, start: int, end: int, dest: memoryview) -> bool:
        found = self._files.read_into(key, start, end, dest)
        if found:
            self._reporter.hit(key)
        return found

    def contains(self, key: str) -> bool:
        return self._files.exists(key)

    def put(self, key: str, data: bytes) -> PutOutcome:
        return PutOutcome(PutResult.ALREADY_PRESENT)  # the daemon stored it when it fetched

    def remove(self, key: str) -> bool:
        return False

    def usage(self) -> tuple[int, int]:
        return 0, 0  # the daemon reports usage; this view does not scan its directories

    def clear(self) -> None:
        self._files.forget_all()


def _may_read_block_files(blocks: Path) -> bool:
    """Block files are 0600: only the daemon's UID (or root) can open them, whoever
    else sees the directory reads through passed descriptors instead."""
    return os.geteuid() in (0, blocks.stat().st_uid)
