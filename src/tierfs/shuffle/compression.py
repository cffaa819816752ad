"""lz4 where it pays: one writer's blocks are compressed until they prove incompressible.

Random or already-compressed data (encrypted columns, images, TeraSort values) costs lz4
time on both sides for nothing; after the first blocks of a map writer save less than a
tenth of their size, its later blocks are stored raw. Each block's header names its codec.
"""

from __future__ import annotations

import lz4.frame

from tierfs.shuffle.frames import CODEC_LZ4, CODEC_NONE

_TRIAL_BLOCKS = 4
_WORTHWHILE = 0.9  # compressed / raw below this keeps compression on


class Compressor:
    def __init__(self, codec: int):
        self.codec = codec
        self._trials = 0
        self._raw = self._packed = 0

    def compress(self, raw) -> tuple[int, object]:
        """The codec used and the payload for ``raw``."""
        if self.codec == CODEC_NONE:
            return CODEC_NONE, raw
        packed = lz4.frame.compress(raw, store_size=False)
        if self._trials < _TRIAL_BLOCKS:
            self._trials += 1
            self._raw += len(raw)
            self._packed += len(packed)
            if self._trials == _TRIAL_BLOCKS and self._packed > _WORTHWHILE * self._raw:
                self.codec = CODEC_NONE
        if len(packed) >= len(raw):
            return CODEC_NONE, raw
        return CODEC_LZ4, packed
