"""Fuzz the daemon's ``POST /v1/block`` body: any JSON is a block address or raises
``ValueError`` (the daemon answers 400), and an address round-trips."""

from __future__ import annotations

import json
import sys

import atheris

with atheris.instrument_imports():
    from tierfs.daemon_client.protocol import BlockAddress


def test_one_input(data: bytes) -> None:
    try:
        payload = json.loads(data)
    except (ValueError, RecursionError):
        return  # the route's own JSON decoding, not this parser
    try:
        address, from_peer = BlockAddress.from_json(payload)
    except ValueError:
        return
    if BlockAddress.from_json(address.to_json(from_peer)) != (address, from_peer):
        raise AssertionError("a block address did not round-trip")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
