"""Fuzz shuffle frames and the daemon's push body: any bytes, cut into any chunks, split
into frames that decode or raise ``CorruptShuffleBlockError``; a real ``ShuffleStore``
takes a push or refuses it with a named error; a damaged stream decodes exactly or raises."""

from __future__ import annotations

import atexit
import shutil
import sys
import tempfile

import atheris

with atheris.instrument_imports():
    from mutations import damage

    from tierfs.shuffle.compression import Compressor
    from tierfs.shuffle.errors import CorruptShuffleBlockError
    from tierfs.shuffle.frames import BlockId, FrameSplitter, decode_block, encode_block
    from tierfs_server.shuffle_store import ShuffleCapacityError, ShuffleSettings, ShuffleStore

PARTITIONS = 4
ROOT = tempfile.mkdtemp(prefix="fuzz-shuffle-")
atexit.register(shutil.rmtree, ROOT, True)
STORE = ShuffleStore(ShuffleSettings(ROOT, capacity=64 * 2**20))
STORE.create("fuzzed", PARTITIONS)


def _decoded(chunks: list[bytes]) -> list[tuple] | None:
    splitter = FrameSplitter("fuzz")
    try:
        frames = [bytes(frame) for chunk in chunks for frame in splitter.feed(chunk)]
        splitter.finish()
        return [(b.id, b.sequence, b.kind, bytes(b.data))
                for b in (decode_block(memoryview(frame), "fuzz") for frame in frames)]
    except CorruptShuffleBlockError:
        return None


def _push(body: bytes) -> None:
    try:
        STORE.push("fuzzed", body)
    except ShuffleCapacityError:  # the fuzzer filled it: start over
        STORE.delete("fuzzed")
        STORE.create("fuzzed", PARTITIONS)
    except (CorruptShuffleBlockError, ValueError):
        pass


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    if fdp.ConsumeBool():
        cuts = sorted(fdp.ConsumeIntListInRange(fdp.ConsumeIntInRange(0, 4), 0, 4096))
        body = fdp.ConsumeBytes(fdp.remaining_bytes())
        edges = [0, *(min(cut, len(body)) for cut in cuts), len(body)]
        _decoded([body[a:b] for a, b in zip(edges, edges[1:], strict=False)])
        _push(body)
        return
    blocks, parts = [], []
    for sequence in range(fdp.ConsumeIntInRange(1, 4)):
        block_id = BlockId(fdp.ConsumeIntInRange(0, 2**63 - 1), fdp.ConsumeIntInRange(0, 3),
                           fdp.ConsumeIntInRange(0, PARTITIONS - 1))
        raw = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64)) * fdp.ConsumeIntInRange(1, 40)
        kind = fdp.ConsumeIntInRange(0, 1)
        blocks.append((block_id, sequence, kind, raw))
        parts += encode_block(block_id, sequence, kind, raw,
                              Compressor(fdp.ConsumeIntInRange(0, 1)).compress)
    stream = damage(fdp, b"".join(map(bytes, parts)), in_place=True)
    decoded = _decoded([stream])
    if decoded is not None and decoded != blocks:
        raise AssertionError("a damaged shuffle stream decoded to other blocks")
    _push(stream)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
