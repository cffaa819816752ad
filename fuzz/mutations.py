"""Shared by the fuzz targets: damage a valid encoding as the fuzzer's input directs.

Random bytes rarely pass a checksum, so each target also builds a valid encoding and lets
the fuzzer flip, overwrite, insert or cut its bytes; the parser must then return exactly
what was encoded or raise its own error.
"""

from __future__ import annotations

import atheris


def damage(fdp: atheris.FuzzedDataProvider, encoded: bytes, in_place: bool = False) -> bytes:
    """``encoded`` after up to four edits chosen by ``fdp`` (only same-length ones if
    ``in_place``)."""
    data = bytearray(encoded)
    for _ in range(fdp.ConsumeIntInRange(1, 4)):
        kind = fdp.ConsumeIntInRange(0, 1 if in_place else 4)
        at = fdp.ConsumeIntInRange(0, max(len(data) - 1, 0))
        if kind == 0 and data:
            data[at] ^= fdp.ConsumeIntInRange(1, 255)
        elif kind == 1 and data:
            data[at] = fdp.ConsumeIntInRange(0, 255)
        elif kind == 2:
            data[at:at] = fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 16))
        elif kind == 3:
            del data[at:at + fdp.ConsumeIntInRange(1, 64)]
        elif kind == 4:
            del data[at:]
    return bytes(data)
