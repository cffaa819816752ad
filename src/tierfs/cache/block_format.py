"""On-disk format of a cached block: a checksummed header, then the data, chunk by chunk.

The data is cut into chunks (64 KiB for 4 MiB blocks) and each chunk carries its own
xxh3-64 checksum, so a 64 KiB read verifies 64 KiB instead of the whole block, and a
flipped bit anywhere is caught before a byte is returned. The header (sizes and the
checksum table) has a checksum of its own. Data starts on a 4 KiB boundary.
"""

from __future__ import annotations

import struct

import xxhash

MAGIC = b"TIERBLK1"
_FIXED = struct.Struct("<8sQII")  # magic, data length, chunk size, chunk count
_DIGEST = struct.Struct("<Q")
_ALIGN = 4096
MIN_CHUNK = 64 * 2**10
MAX_CHUNKS = 256  # keeps the header within one 4 KiB page


class CorruptBlock(Exception):
    """A cached block failed its checksum; the caller drops it and fetches the bytes again."""


def chunk_size_for(block_size: int) -> int:
    chunk = MIN_CHUNK
    while block_size > chunk * MAX_CHUNKS:
        chunk *= 2
    return chunk


def header_length(chunks: int) -> int:
    raw = _FIXED.size + _DIGEST.size * chunks + _DIGEST.size
    return -(-raw // _ALIGN) * _ALIGN


def chunk_digests(data, chunk: int) -> list[int]:
    view = memoryview(data)
    return [
        xxhash.xxh3_64_intdigest(view[start:start + chunk])
        for start in range(0, len(view), chunk)
    ]


def encode_header(data, chunk: int) -> bytes:
    """The header to write before ``data``: sizes, per-chunk digests, a digest of all that."""
    digests = chunk_digests(data, chunk)
    body = _FIXED.pack(MAGIC, len(data), chunk, len(digests)) + b"".join(
        _DIGEST.pack(d) for d in digests
    )
    body += _DIGEST.pack(xxhash.xxh3_64_intdigest(body))
    return body.ljust(header_length(len(digests)), b"\0")


class BlockHeader:
    """A parsed, verified header: where the data starts and what each chunk must hash to."""

    __slots__ = ("data_length", "chunk", "digests", "data_offset", "all_chunks")

    def __init__(self, raw: bytes):
        if len(raw) < _FIXED.size:
            raise CorruptBlock("truncated header")
        magic, self.data_length, self.chunk, count = _FIXED.unpack_from(raw)
        if magic != MAGIC or self.chunk <= 0 or count > MAX_CHUNKS:
            raise CorruptBlock("bad header")
        table_end = _FIXED.size + _DIGEST.size * count
        if len(raw) < table_end + _DIGEST.size:
            raise CorruptBlock("truncated header")
        (expected,) = _DIGEST.unpack_from(raw, table_end)
        if xxhash.xxh3_64_intdigest(raw[:table_end]) != expected:
            raise CorruptBlock("header checksum mismatch")
        if count != -(-self.data_length // self.chunk):
            raise CorruptBlock("chunk count does not match data length")
        self.digests = struct.unpack_from(f"<{count}Q", raw, _FIXED.size)
        self.data_offset = header_length(count)
        self.all_chunks = (1 << count) - 1  # the mask of every chunk (see ``chunks_of``)

    def chunk_span(self, start: int, end: int) -> tuple[int, int]:
        """Byte span ``[lo, hi)`` of whole chunks covering data range ``[start, end)``."""
        lo = (start // self.chunk) * self.chunk
        hi = min(-(-end // self.chunk) * self.chunk, self.data_length)
        return lo, hi

    def chunks_of(self, start: int, end: int) -> int:
        """Bitmask of the chunks holding data range ``[start, end)``."""
        first, last = start // self.chunk, -(-end // self.chunk)
        return ((1 << (last - first)) - 1) << first

    def verify(self, data, lo: int) -> None:
        """Check chunks of ``data``, which holds the block's bytes from chunk-aligned ``lo``."""
        view = memoryview(data)
        first = lo // self.chunk
        if first + -(-len(view) // self.chunk) > len(self.digests):
            raise CorruptBlock("more bytes than the block holds")
        for index, start in enumerate(range(0, len(view), self.chunk), start=first):
            if xxhash.xxh3_64_intdigest(view[start:start + self.chunk]) != self.digests[index]:
                raise CorruptBlock(f"chunk {index} checksum mismatch")

    def verify_segments(self, segments: list[memoryview], lo: int) -> None:
        """Check the chunks held by ``segments`` laid end to end from chunk-aligned ``lo``.

        Reads land partly in the caller's buffer and partly in scratch space (the edges of
        the first and last chunk); a chunk split across segments is hashed incrementally.
        """
        segments = [segment for segment in segments if len(segment)]
        if len(segments) == 1:  # aligned reads: one tight loop over whole chunks
            self.verify(segments[0], lo)
            return
        index = lo // self.chunk
        hasher = None
        need = self.chunk_length(index)
        for segment in segments:
            while len(segment):
                if need <= 0:
                    raise CorruptBlock("more bytes than the block holds")
                take = min(need, len(segment))
                part, segment = segment[:take], segment[take:]
                if hasher is None and take == need:
                    digest = xxhash.xxh3_64_intdigest(part)
                else:
                    hasher = hasher or xxhash.xxh3_64()
                    hasher.update(part)
                    need -= take
                    if need:
                        continue
                    digest = hasher.intdigest()
                    hasher = None
                if digest != self.digests[index]:
                    raise CorruptBlock(f"chunk {index} checksum mismatch")
                index += 1
                need = self.chunk_length(index)
        if hasher is not None:
            raise CorruptBlock(f"chunk {index} is incomplete")

    def chunk_length(self, index: int) -> int:
        return min(self.chunk, self.data_length - index * self.chunk)
