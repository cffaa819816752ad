"""The shuffle block: a 48-byte header (map, attempt, partition, sequence), then a payload.

Every backend stores and moves the same self-describing blocks, so a reader can check
that each block is the one it asked for, that none is missing or repeated, and (an xxh3
digest over header and payload) that no byte changed, before it decompresses anything.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

import lz4.frame
import xxhash

from tierfs.shuffle.errors import CorruptShuffleBlockError

MAGIC = b"TSB1"
_HEADER = struct.Struct("<4sBBHQQIIIIQ")  # magic, kind, codec, 0, map, attempt, partition,
HEADER_SIZE = _HEADER.size                # sequence, raw length, payload length, digest
_DIGESTED = HEADER_SIZE - 8
_DIGEST = struct.Struct("<Q")
_LENGTH = struct.Struct("<I")
MAX_PAYLOAD = 2**31

KIND_BYTES, KIND_ARROW = 0, 1
CODEC_NONE, CODEC_LZ4 = 0, 1
CODECS = {None: CODEC_NONE, "lz4": CODEC_LZ4}


@dataclass(frozen=True, slots=True)
class BlockId:
    """Where a block belongs: which attempt of which map wrote it, for which partition."""

    map_id: int
    attempt: int
    partition: int

    def describe(self) -> str:
        return f"map {self.map_id} attempt {self.attempt} partition {self.partition}"


@dataclass(frozen=True, slots=True)
class Block:
    """A verified, decompressed block."""

    id: BlockId
    sequence: int
    kind: int
    data: memoryview | bytes


def encode_block(block_id: BlockId, sequence: int, kind: int, raw, compress) -> list:
    """The header and the payload to write one after the other; ``compress(raw)`` gives
    the codec and payload."""
    codec, payload = compress(raw)
    if len(payload) >= MAX_PAYLOAD:
        raise ValueError(f"shuffle block of {len(payload)} bytes is too large; "
                         "lower block_size")
    prefix = _HEADER.pack(MAGIC, kind, codec, 0, block_id.map_id, block_id.attempt,
                          block_id.partition, sequence, len(raw), len(payload), 0)[:_DIGESTED]
    digest = xxhash.xxh3_64()
    digest.update(prefix)
    digest.update(payload)
    return [prefix + _DIGEST.pack(digest.intdigest()), payload]


def frame_length(header: bytes | memoryview, where: str) -> int:
    """Total length of the block whose header starts ``header`` (its digest is checked later)."""
    if bytes(header[:4]) != MAGIC:
        raise CorruptShuffleBlockError(f"not a shuffle block (bad magic) in {where}")
    return HEADER_SIZE + _LENGTH.unpack_from(header, HEADER_SIZE - 12)[0]


@dataclass(frozen=True, slots=True)
class FrameHeader:
    """A header whose digest matched: the frame's bytes are the ones its writer sent."""

    id: BlockId
    sequence: int
    kind: int
    codec: int
    raw_length: int


def verify_frame(frame: memoryview, where: str) -> FrameHeader:
    """Check one whole frame (magic, lengths, digest) without decompressing it."""
    if len(frame) < HEADER_SIZE:
        raise CorruptShuffleBlockError(f"truncated shuffle block header in {where}")
    (magic, kind, codec, _, map_id, attempt, partition, sequence, raw_length,
     payload_length, expected) = _HEADER.unpack_from(frame)
    block_id = BlockId(map_id, attempt, partition)
    if magic != MAGIC:
        raise CorruptShuffleBlockError(f"not a shuffle block (bad magic) in {where}")
    if len(frame) != HEADER_SIZE + payload_length:
        raise CorruptShuffleBlockError(f"truncated shuffle block ({block_id.describe()}) "
                                       f"in {where}")
    digest = xxhash.xxh3_64()
    digest.update(frame[:_DIGESTED])
    digest.update(frame[HEADER_SIZE:])
    if digest.intdigest() != expected:
        raise CorruptShuffleBlockError(
            f"checksum mismatch in shuffle block of {block_id.describe()} in {where}")
    if codec not in CODECS.values() or kind not in (KIND_BYTES, KIND_ARROW):
        raise CorruptShuffleBlockError(f"unknown codec or kind in {block_id.describe()}")
    return FrameHeader(block_id, sequence, kind, codec, raw_length)


def decode_block(frame: memoryview, where: str) -> Block:
    """Verify and decompress one whole frame; ``where`` names its source in errors."""
    header = verify_frame(frame, where)
    data = payload = frame[HEADER_SIZE:]
    if header.codec == CODEC_LZ4:
        try:  # one byte past the stated length tells it is wrong, without inflating a bomb
            data = lz4.frame.LZ4FrameDecompressor().decompress(
                payload, max_length=header.raw_length + 1)
        except RuntimeError as error:
            raise CorruptShuffleBlockError(f"shuffle block of {header.id.describe()} in "
                                           f"{where} is not an lz4 frame ({error})") from None
    if len(data) != header.raw_length:
        raise CorruptShuffleBlockError(f"shuffle block of {header.id.describe()} in {where} "
                                       "decoded to the wrong length")
    return Block(header.id, header.sequence, header.kind, data)


class FrameSplitter:
    """Cuts a byte stream that arrives in arbitrary chunks into whole frames.

    A frame that spans chunks is assembled in one buffer; the rest are views of the chunk.
    """

    def __init__(self, where: str):
        self.where = where
        self._carry = bytearray()

    def feed(self, chunk) -> Iterator[memoryview]:
        view = memoryview(chunk)
        while self._carry and view:
            taken = view[:self._missing()]
            self._carry += taken
            view = view[len(taken):]
            if self._missing() == 0:
                yield memoryview(bytes(self._carry))
                self._carry.clear()
        while len(view) >= HEADER_SIZE:
            length = frame_length(view, self.where)
            if length > len(view):
                break
            yield view[:length]
            view = view[length:]
        self._carry += view

    def _missing(self) -> int:
        if len(self._carry) < HEADER_SIZE:
            return HEADER_SIZE - len(self._carry)
        return frame_length(self._carry, self.where) - len(self._carry)

    def finish(self) -> None:
        """The stream ended: leftover bytes mean a torn block."""
        if self._carry:
            raise CorruptShuffleBlockError(
                f"shuffle data in {self.where} ends inside a block ({len(self._carry)} "
                "stray bytes): torn or truncated write")
