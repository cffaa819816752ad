"""ecfs over six real SeaweedFS servers: round trips, unreachable and stopped nodes, bit rot."""

from __future__ import annotations

import itertools
import os
import random

import fsspec
import pytest

from tierfs.ec import ECFileSystem, ECWriteError, FragmentsUnavailableError
from tierfs.ec.repair import repair_file
from tierfs.ec.scrub import scrub
from tierfs.embedded import free_ports

CELL = 64 * 1024
STRIPE = 4 * CELL
SIZES = [0, 1, CELL - 1, CELL, STRIPE - 1, STRIPE, STRIPE + 1, 20 * STRIPE + 3]


def _store(seaweed_store: dict, **overrides) -> ECFileSystem:
    return ECFileSystem(cell_size=CELL, **{**seaweed_store, **overrides})


def test_round_trips_are_byte_exact_for_every_edge_size(seaweed_store):
    fs = _store(seaweed_store)
    for size in SIZES:
        data = os.urandom(size)
        fs.pipe_file(f"pipe/{size}", data)
        with fs.open(f"stream/{size}", "wb") as handle:
            for start in range(0, size, 100_000):
                handle.write(data[start : start + 100_000])
        assert fs.cat_file(f"pipe/{size}") == data, size
        assert fs.cat_file(f"stream/{size}") == data, size
    assert {e["name"]: e["size"] for e in fs.ls("pipe")} == {f"pipe/{s}": s for s in SIZES}


def test_random_range_reads_are_byte_exact(seaweed_store):
    fs = _store(seaweed_store)
    data = os.urandom(13 * STRIPE + 17)
    fs.pipe_file("ranges", data)
    rng = random.Random(3)
    for _ in range(40):
        start = rng.randrange(len(data))
        end = rng.randrange(start, len(data) + 1)
        assert fs.cat_file("ranges", start, end) == data[start:end]


def test_stored_bytes_per_logical_byte_is_at_most_1_52(seaweed_store):
    fs = ECFileSystem(**seaweed_store)  # default 1 MiB cells
    size = 16 * 2**20
    fs.pipe_file("big", os.urandom(size))
    stored = 0
    for url, options in zip(seaweed_store["targets"], seaweed_store["target_options"],
                            strict=True):
        target_fs, root = fsspec.core.url_to_fs(url, **options)
        stored += sum(target_fs.du(root, total=False).values())
    assert stored / size <= 1.52


def test_every_pair_of_unreachable_nodes_still_reads_byte_exact(seaweed_store):
    data = os.urandom(6 * STRIPE + 5)
    _store(seaweed_store).pipe_file("pairs", data)
    dead_endpoint = f"http://127.0.0.1:{free_ports(1)[0]}"  # nothing listens: refused
    for lost in itertools.combinations(range(6), 2):
        options = [dict(o) for o in seaweed_store["target_options"]]
        for index in lost:
            options[index]["client_kwargs"] = {**options[index]["client_kwargs"],
                                               "endpoint_url": dead_endpoint}
        fs = _store(seaweed_store, target_options=options)
        assert fs.cat_file("pairs") == data, lost


def test_stopped_nodes_two_read_exact_three_raise(seaweed_store, seaweed_nodes, node_control):
    fs = _store(seaweed_store)
    data = os.urandom(8 * STRIPE + 1)
    fs.pipe_file("outage", data)
    owners = [seaweed_store["targets"].index(url) for url in fs.manifest("outage").targets]
    node_control.stop([seaweed_nodes[owners[0]], seaweed_nodes[owners[3]]])  # two data nodes
    assert _store(seaweed_store).cat_file("outage") == data
    node_control.stop([seaweed_nodes[owners[1]]])
    with pytest.raises(FragmentsUnavailableError) as caught:
        _store(seaweed_store).cat_file("outage")
    assert "outage" in str(caught.value) and {0, 1, 3} <= set(caught.value.missing)


def test_nodes_failing_mid_write_leave_no_visible_file(seaweed_store, seaweed_nodes,
                                                       node_control):
    fs = _store(seaweed_store)
    chunk = os.urandom(STRIPE)
    with pytest.raises(ECWriteError) as caught:
        with fs.open("half-written", "wb") as handle:
            for _ in range(4):
                handle.write(chunk)
            node_control.stop(seaweed_nodes[:3])
            for _ in range(40):
                handle.write(chunk)
    assert "half-written" in str(caught.value)
    node_control.start(seaweed_nodes[:3])
    assert not _store(seaweed_store).exists("half-written")


def test_bit_rot_is_detected_read_exact_scrubbed_and_repaired(seaweed_store):
    fs = _store(seaweed_store)
    data = os.urandom(5 * STRIPE)
    fs.pipe_file("rot", data)
    manifest = fs.manifest("rot")
    url = manifest.targets[2]
    target_fs, root = fsspec.core.url_to_fs(url, **seaweed_store["target_options"][
        seaweed_store["targets"].index(url)])
    key = f"{root}/data/{manifest.fragment_name(2)}"
    original = target_fs.cat_file(key)
    rotten = bytearray(original)
    rotten[CELL + 200] ^= 0x01
    target_fs.pipe_file(key, bytes(rotten))
    assert fs.cat_file("rot") == data
    (report,) = [r for r in scrub(fs) if not r.healthy]
    assert report.damaged == {2: "checksum mismatch"}
    repair_file(fs, report)
    assert target_fs.cat_file(key) == original
