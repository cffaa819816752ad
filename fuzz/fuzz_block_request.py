"""Fuzz the daemon's ``POST /v1/block`` body: any JSON is a block address or raises
``ValueError`` (the daemon answers 400), and an address round-trips."""

from __future__ import annotations

import json
import sys

import atheris

with atheris.instrument_imports():
    from tierfs.daemon_client.protocol import BlockAddress

FIELDS = ("mount", "path", "size", "version", "index", "start", "end", "from_peer", "other")


def _value(fdp: atheris.FuzzedDataProvider):
    return fdp.PickValueInList([None, True, False, 0, -1, 1.5, "", [], {}, "x"]) \
        if fdp.ConsumeBool() else fdp.ConsumeIntInRange(-2**70, 2**70)


def _payload(fdp: atheris.FuzzedDataProvider):
    """Raw JSON, or an object whose fields take values of every JSON type."""
    if fdp.ConsumeBool():
        try:
            return json.loads(fdp.ConsumeBytes(fdp.remaining_bytes()))
        except (ValueError, RecursionError):
            return None  # the route's own JSON decoding, not this parser
    return {FIELDS[fdp.ConsumeIntInRange(0, len(FIELDS) - 1)]:
            fdp.ConsumeUnicodeNoSurrogates(8) if fdp.ConsumeBool() else _value(fdp)
            for _ in range(fdp.ConsumeIntInRange(0, 12))}


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    try:
        address, from_peer = BlockAddress.from_json(_payload(fdp))
    except ValueError:
        return
    if BlockAddress.from_json(address.to_json(from_peer)) != (address, from_peer):
        raise AssertionError("a block address did not round-trip")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
