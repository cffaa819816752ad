"""The EC benchmark's baselines: balanced three-replica placement and the codec's measured work."""

from __future__ import annotations

from collections import Counter

import pytest

from tierfs_bench.ec import _checks
from tierfs_bench.ec_codec import DECODE, ENCODE, measure_codec
from tierfs_bench.ec_replica import REPLICAS, ReplicatedStore, replica_nodes
from tierfs_bench.report import Measurement, Report

NODES = [f"rep{i}" for i in range(6)]
MiB = 2**20


@pytest.mark.parametrize("blocks", [16, 15, 6, 1])
def test_replica_placement_gives_every_node_the_same_number_of_blocks(blocks):
    for path in ("f0", "f1", "ckpt/step-7"):
        load = Counter(node for block in range(blocks)
                       for node in replica_nodes(NODES, path, block))

        assert sum(load.values()) == REPLICAS * blocks
        assert max(load.values()) - min(load.get(node, 0) for node in NODES) <= 1


def test_every_block_has_three_distinct_replicas():
    for block in range(32):
        assert len(set(replica_nodes(NODES, "f0", block))) == REPLICAS


def test_the_busiest_node_receives_half_a_file_of_sixteen_blocks():
    store = ReplicatedStore(dict.fromkeys(NODES), block_size=4 * MiB)

    sent = store.node_bytes("f0", 64 * MiB)

    assert sum(sent.values()) == 3 * 64 * MiB
    assert max(sent.values()) == 32 * MiB  # 3 x 64 MiB over 6 nodes, not 36 MiB


def test_codec_rows_cover_one_core_and_every_core_on_fresh_stripes():
    report = Report("ec")

    measure_codec(report, cell_size=256 * 2**10, runs=1, stripes=8)

    rows = {(m.variant, m.workload): m for m in report.measurements}
    assert (ENCODE, "codec, one core") in rows and (DECODE, "codec, one core") in rows
    many = [m for m in report.measurements if m.workload.endswith("cores")]
    assert len(many) in (0, 2)  # two rows on a machine with more than one core
    for m in report.measurements:
        assert m.mb_per_s > 0 and len(m.seconds) == 1


def test_an_ec_check_whose_baseline_is_missing_fails():
    report = Report("ec", meta={"models": ["uncapped"], "seaweed_002": None})
    report.add(Measurement(ENCODE, "codec, one core", 2 * 10**9, [1.0]))
    report.add(Measurement("ec 4+2", "read healthy [uncapped]", 100, [1.0]))  # no plain copy
    report.add(Measurement("ec 4+2", "write [uncapped]", 100, [1.0],
                           extra={"stored_per_logical": 1.5}))

    verdicts = {c["name"]: c["passed"] for c in _checks(report)}

    assert verdicts["[uncapped] EC healthy read / plain copy read >= 0.9"] is False
    assert verdicts["[uncapped] EC write / 3-replica write (reported)"] is None
