"""A tier of checksummed block files read through ``BlockFiles``: what every such tier shares.

On its own it is read-only: a daemon's directory seen by its clients (short-circuit reads,
passed descriptors), which report their hits instead of recording them. ``DirectoryTier``
adds the index, writes and eviction of the directory a process owns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path

from tierfs.cache.block_files import BlockFiles
from tierfs.cache.block_format import CorruptBlock
from tierfs.cache.config import TierSpec
from tierfs.cache.resident import FileBlockView
from tierfs.cache.tier import PutOutcome, PutResult, Tier
from tierfs.cache.tuning import TUNING, Tuning

logger = logging.getLogger(__name__)


class BlockFileTier(Tier):
    accepts_blocks = False
    offers_views = True
    activity = None  # read-only: no background work

    def __init__(self, spec: TierSpec, blocks_dir: Path, on_hit: Callable[[str, int], None],
                 opener: Callable[[str], int | None] | None = None, tuning: Tuning = TUNING):
        """The block files in ``blocks_dir`` (or those ``opener`` gives descriptors of, see
        ``BlockFiles``); ``on_hit(key, count)`` hears of every hit."""
        self.spec = spec
        self.files = BlockFiles(blocks_dir, self.on_corrupt, opener=opener, tuning=tuning)
        self._on_hit = on_hit
        self.corrupt_blocks = 0

    def on_corrupt(self, key: str, error: CorruptBlock) -> None:
        """A block failed its checks: counted and not served. Not ours to delete: the
        directory's owner drops it when it next reads the block itself."""
        logger.warning("corrupt cached block %s in %s: %s", key, self.spec.path, error)
        self.corrupt_blocks += 1

    def get(self, key: str, start: int, end: int | None) -> memoryview | None:
        view = self.files.read(key, start, end)
        if view is not None:
            self._on_hit(key, 1)
        return view

    def get_block(self, key: str) -> memoryview | None:
        return self.get(key, 0, None)  # memory of its own: the memory tier keeps it as it is

    def read_into(self, key: str, start: int, end: int, dest: memoryview) -> bool:
        found = self.files.read_into(key, start, end, dest)
        if found:
            self._on_hit(key, 1)
        return found

    def view(self, key: str) -> FileBlockView | None:
        return self.files.view(key, partial(self._on_hit, key))

    def contains(self, key: str) -> bool:
        return self.files.exists(key)

    def put(self, key: str, data: bytes) -> PutOutcome:
        return PutOutcome(PutResult.ALREADY_PRESENT)  # its owner stored it when it fetched

    def remove(self, key: str) -> bool:
        return False

    def usage(self) -> tuple[int, int]:
        return 0, 0  # its owner reports usage; a reader does not scan the directory

    def clear(self) -> None:
        self.files.forget_all()
