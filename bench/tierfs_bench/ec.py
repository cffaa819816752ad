"""``tierfs-bench ec``: the erasure-coded store (RS 4+2) against three replicas, six nodes.

Six independent SeaweedFS servers are the storage nodes. The same random bytes are
written and read three ways: through ``ecfs`` (4 data + 2 parity fragments, one per
node), as three replicas of every 4 MiB block on three of the nodes (the HDFS write
model), and as one plain copy on one node; on the uncapped model also into a separate
SeaweedFS cluster (three volume servers under one master) with its own ``002``
replication, as a second replica baseline. Reads are then repeated with one and with
two nodes stopped. Every run is timed; medians over ``--runs`` are reported with ratios,
stored and sent bytes per logical byte, and client and node CPU seconds. The node model
(bandwidth-capped links, or uncapped loopback) is printed with the results.
"""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import fsspec

from tierfs.ec import ECFileSystem
from tierfs.sizes import parse_size
from tierfs_bench.ec_codec import measure_codec
from tierfs_bench.ec_nodes import (
    CappedNode,
    LoopbackNode,
    capped_model_available,
    each_node,
    node_cpu_seconds,
)
from tierfs_bench.ec_replica import ReplicatedStore
from tierfs_bench.ec_seaweed_replicated import ReplicatedSeaweed, ReplicationUnavailable
from tierfs_bench.report import Measurement, Report

EC, REPLICA, SEAWEED, PLAIN = "ec 4+2", "3-replica", "seaweedfs 002", "plain copy"
BASELINES = [REPLICA, SEAWEED, PLAIN]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ec", help="erasure-coded store (RS 4+2) vs three replicas on six SeaweedFS nodes",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--size", type=_size, default=64 * 2**20,
                        help="bytes per file (default 64MiB)")
    parser.add_argument("--runs", type=int, default=3, help="runs per variant (median; default 3)")
    parser.add_argument("--cell-size", type=_size, default=2**20, help="EC cell (default 1MiB)")
    parser.add_argument("--model", choices=["both", "capped", "uncapped"], default=None,
                        help="node model: bandwidth-capped links (root: netns + tc tbf), "
                        "uncapped loopback, or both in one run (default: both when root)")
    parser.add_argument("--rate-mbit", type=float, default=25.0,
                        help="capped model: each node's link rate, each direction (default "
                        "25: low enough that the links, not a 2-core host's CPU, are the limit)")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--plot", metavar="DIR", help="write one PNG bar chart per workload")
    parser.add_argument("--workdir", help="node data (default: a new temporary directory)")
    parser.set_defaults(run=run)


def _size(text: str) -> int:
    return parse_size(text, "size")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    if args.runs < 1:
        raise SystemExit("--runs must be >= 1")
    capped_ok = capped_model_available()
    model = args.model or ("both" if capped_ok else "uncapped")
    if model != "uncapped" and not capped_ok:
        raise SystemExit("the capped node model needs root with 'ip netns' and 'tc'; "
                         "use --model uncapped")
    logging.getLogger("tierfs.ec").setLevel(logging.ERROR)  # stopped nodes are the point
    report = Report("ec")
    report.meta.update(size=args.size, runs=args.runs, cell_size=args.cell_size, models=[],
                       seaweed_002=None)
    measure_codec(report, args.cell_size)
    data = os.urandom(args.size)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="tierfs-bench-ec-"))
    if not args.workdir:  # a run stores several hundred MB per node model
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    for capped in {"both": [True, False], "capped": [True], "uncapped": [False]}[model]:
        label = f"capped {args.rate_mbit:g} Mbps" if capped else "uncapped"  # no '/': file names
        report.meta["models"].append(label)
        with ExitStack() as stack:
            nodes = _start_nodes(workdir / label.replace(" ", "_"),
                                 capped, args.rate_mbit, stack)
            cluster = None if capped else _start_seaweed_002(report, workdir, stack)
            _measure_model(report, label, nodes, data, args, cluster)
    _describe(report, args, capped_ok)
    print(report.table(BASELINES, group_by_workload=True))
    if args.json:
        report.to_json(args.json, BASELINES)
    if args.plot:
        for path in report.plot(args.plot):
            _log(f"wrote {path}")
    return 0


def _start_nodes(directory: Path, capped: bool, rate_mbit: float, stack: ExitStack) -> list:
    nodes = []
    for index in range(6):
        node_dir = directory / f"node{index}"
        node_dir.mkdir(parents=True, exist_ok=True)
        node = CappedNode(node_dir, index, rate_mbit) if capped else LoopbackNode(node_dir)
        stack.callback(node.close)
        nodes.append(node)
    _log(f"starting six SeaweedFS nodes ({'capped' if capped else 'uncapped'}) ...")
    each_node(lambda node: node.start(), nodes)
    return nodes


def _start_seaweed_002(report: Report, workdir: Path, stack: ExitStack):
    """The SeaweedFS ``002`` cluster, or None with the reason printed and reported."""
    _log("starting the SeaweedFS 002 cluster (master, 3 volume servers, filer + S3) ...")
    cluster = ReplicatedSeaweed(workdir / "seaweedfs-002")
    try:
        cluster.start()
    except (ReplicationUnavailable, OSError) as error:
        report.meta["seaweed_002"] = {"ran": False, "reason": str(error)}
        _log(f"SeaweedFS 002 baseline not run: {error}")
        return None
    stack.callback(cluster.stop)
    report.meta["seaweed_002"] = {"ran": True}
    return cluster


def _node_options(node) -> dict:
    """s3fs options with a short retry budget: a stopped node should fail fast."""
    return node.storage_options() | {
        "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 2}}


class _Sample:
    """Wall time, client CPU, node CPU and bytes sent into the nodes' links, around a call."""

    def __init__(self, nodes: list, cpu_seconds=None):
        """``cpu_seconds``: the servers' CPU counter, by default the nodes' processes'."""
        self.nodes = nodes
        self.cpu_seconds = cpu_seconds or partial(node_cpu_seconds, nodes)

    def _counters(self) -> tuple[float, float, float, int | None]:
        sent = None
        if self.nodes and self.nodes[0].bytes_sent_to is not None:
            sent = sum(node.bytes_sent_to() for node in self.nodes)
        return time.perf_counter(), time.process_time(), self.cpu_seconds(), sent

    def __call__(self, measurement: Measurement, call) -> None:
        before = self._counters()
        call()
        after = self._counters()
        measurement.seconds.append(after[0] - before[0])
        extra = measurement.extra
        extra.setdefault("client_cpu_s", []).append(after[1] - before[1])
        extra.setdefault("node_cpu_s", []).append(after[2] - before[2])
        if after[3] is not None:
            extra.setdefault("wire_bytes_sent", []).append(after[3] - before[3])


def _measure_model(report: Report, label: str, nodes: list, data: bytes,
                   args: argparse.Namespace, cluster: ReplicatedSeaweed | None) -> None:
    for index, node in enumerate(nodes):
        for prefix in ("ec", "rep", "plain"):
            node.create_bucket(f"{prefix}{index}")
    # separate option dicts: botocore rewrites a client's retry settings in place, which
    # would change fsspec's instance-cache key of whoever else holds the same dict
    ec_kwargs = {"targets": [f"s3://ec{i}" for i in range(6)],
                 "target_options": [_node_options(node) for node in nodes],
                 "cell_size": args.cell_size, "skip_instance_cache": True}
    s3 = [fsspec.filesystem("s3", **_node_options(node)) for node in nodes]
    replicas = ReplicatedStore({f"rep{i}": s3[i] for i in range(6)})
    sample = _Sample(nodes)
    size = len(data)
    if cluster is not None:
        seaweed = fsspec.filesystem("s3", skip_instance_cache=True, **cluster.storage_options())
        stored_before = cluster.stored_bytes()
        cluster_sample = _Sample([], cluster.cpu_seconds)

    def row(variant: str, workload: str) -> Measurement:
        return report.series(variant, f"{workload} [{label}]", size)

    writes = {
        EC: lambda run: ECFileSystem(**ec_kwargs).pipe_file(f"f{run}", data),
        REPLICA: lambda run: replicas.write(f"f{run}", data),
        PLAIN: lambda run: s3[0].pipe_file(f"plain0/f{run}", data),
    }
    if cluster is not None:
        writes[SEAWEED] = lambda run: seaweed.pipe_file(f"rep3/f{run}", data)
    for variant in writes:  # untimed: every variant's clients connect once before timing
        writes[variant]("warm-up")
    for run_index in range(args.runs):
        for variant in _rotated(list(writes), run_index):
            _log(f"[{label}] run {run_index + 1}/{args.runs}: write {variant}")
            (cluster_sample if variant == SEAWEED else sample)(
                row(variant, "write"), partial(writes[variant], run_index))
    _record_stored(report, label, s3, size * (args.runs + 1))  # the warm-up wrote one more
    if cluster is not None:
        _record_seaweed_002(report, label, cluster, stored_before, size * (args.runs + 1))

    def checked(read) -> None:
        if read() != data:
            raise AssertionError(f"[{label}] a read returned wrong bytes")

    ecfs = ECFileSystem(**ec_kwargs)
    reads = {
        EC: lambda: checked(lambda: ecfs.cat_file("f0")),
        REPLICA: lambda: checked(lambda: replicas.read("f0", size)),
        PLAIN: lambda: checked(lambda: s3[0].cat_file("plain0/f0")),
    }
    if cluster is not None:
        reads[SEAWEED] = lambda: checked(lambda: seaweed.cat_file("rep3/f0"))
    for run_index in range(args.runs):
        for variant in _rotated(list(reads), run_index):
            _log(f"[{label}] run {run_index + 1}/{args.runs}: healthy read {variant}")
            (cluster_sample if variant == SEAWEED else sample)(
                row(variant, "read healthy"), reads[variant])

    manifest = ecfs.manifest("f0")
    victims = [nodes[ec_kwargs["targets"].index(url)] for url in manifest.targets[:2]]
    try:
        for down in (1, 2):
            _log(f"[{label}] stopping the node of data fragment {down - 1}")
            victims[down - 1].stop()
            live = [node for node in nodes if node not in victims[:down]]
            for variant in (EC, REPLICA):  # untimed: the clients notice the outage once
                reads[variant]()
            for run_index in range(args.runs):
                for variant in _rotated([EC, REPLICA], run_index):
                    _log(f"[{label}] run {run_index + 1}/{args.runs}: read {variant}, "
                         f"{down} down")
                    _Sample(live)(row(variant, f"read {down} node{'s' * (down > 1)} down"),
                                  reads[variant])
    finally:
        each_node(lambda node: node.start(), victims)


def _rotated(names: list[str], run_index: int) -> list[str]:
    """Variants in an order rotated per run, so none always goes first (warm or cold)."""
    shift = run_index % len(names)
    return names[shift:] + names[:shift]


def _record_stored(report: Report, label: str, s3: list, logical: int) -> None:
    """Bytes stored on all nodes, and on the busiest node, per logical byte (object sizes)."""
    per_node = {variant: [] for variant in (EC, REPLICA, PLAIN)}
    for index, fs in enumerate(s3):
        for prefix, variant in (("ec", EC), ("rep", REPLICA), ("plain", PLAIN)):
            fs.invalidate_cache()
            per_node[variant].append(sum(fs.du(f"{prefix}{index}", total=False).values()))
    for variant, stored in per_node.items():
        extra = report.find(variant, f"write [{label}]").extra
        extra["stored_per_logical"] = sum(stored) / logical
        extra["busiest_node_per_logical"] = max(stored) / logical


def _record_seaweed_002(report: Report, label: str, cluster: ReplicatedSeaweed,
                       stored_before: int, logical: int) -> None:
    """Bytes added to the three volume servers' ``.dat`` files, and the replicas' check."""
    measurement = report.find(SEAWEED, f"write [{label}]")
    measurement.extra["stored_per_logical"] = (cluster.stored_bytes() - stored_before) / logical
    try:
        placement = cluster.verify_replicas()
    except ReplicationUnavailable as error:
        report.meta["seaweed_002"].update(verified=False, reason=str(error))
        _log(f"SeaweedFS 002: replicas NOT verified: {error}")
        return
    report.meta["seaweed_002"].update(
        verified=True, volumes={str(volume): servers for volume, servers in placement.items()})


def _median(values: list[float] | None) -> float | None:
    return statistics.median(values) if values else None


def _describe(report: Report, args: argparse.Namespace, capped_ok: bool) -> None:
    notes = ["", "per write (medians): stored bytes and bytes sent per logical byte, CPU s"]
    for m in report.measurements:
        if m.workload.startswith("write"):
            sent = _median(m.extra.get("wire_bytes_sent"))
            sent_text = "-" if sent is None else f"{sent / m.nbytes:.2f} (wire)"
            stored = m.extra.get("stored_per_logical")
            busiest = m.extra.get("busiest_node_per_logical")
            busiest_text = "-" if busiest is None else f"{busiest * m.nbytes / 2**20:.1f} MiB"
            notes.append(
                f"  {m.workload:<32} {m.variant:<13} stored/logical {stored:.3f}  "
                f"busiest node per file {busiest_text:<10} "
                f"sent/logical {sent_text:<12} client CPU {_median(m.extra['client_cpu_s']):.2f} s"
                f"  nodes CPU {_median(m.extra['node_cpu_s']):.2f} s")
    checks = _checks(report)
    report.meta["checks"] = checks
    notes += ["", "checks (issue 3):"] + [
        f"  {'PASS' if c['passed'] else 'FAIL' if c['passed'] is False else 'info'} "
        f"{c['name']}: {c['value']}" for c in checks]
    notes += ["", "codec rows: each pass encodes (or decodes with fragments 0 and 1 lost) "
              "64 distinct stripes cycled from 64 MiB of random input, with the writer's copy "
              "of each stripe and an xxh3 checksum of every cell; 'N cores' = N processes at "
              "once, aggregate"]
    notes += ["", "node models: " + "; ".join(report.meta["models"])]
    if not capped_ok:
        notes.append("  (the capped model needs root with ip netns and tc; not used: uncapped)")
    notes += [
        "  capped: each SeaweedFS in its own network namespace behind a veth pair with tc tbf "
        f"at {args.rate_mbit:g} Mbit/s each way; uncapped: loopback, all six on this machine's "
        "cores, so writes are bound by the servers' CPU rather than by any network",
        "  3-replica: each 4 MiB block sent by the client to 3 of the 6 nodes at once, every "
        "node holding the same number of blocks (busiest node = bytes it received per file), "
        "one upload stream per node (client fan-out; HDFS pipelines through the datanodes, "
        "with the same bytes per node)",
    ]
    notes += _describe_seaweed_002(report.meta["seaweed_002"], report.meta["models"])
    report.notes += notes


def _describe_seaweed_002(outcome: dict | None, models: list[str]) -> list[str]:
    if outcome is None:
        return ["  seaweedfs 002: not run: it runs on the uncapped model only, which this run "
                "did not include (--model both or uncapped)"]
    if not outcome["ran"]:
        return [f"  seaweedfs 002: could not be configured, not run: {outcome['reason']}"]
    verified = ("3 replicas verified: every volume of bucket rep3 has ReplicaPlacement 002 on "
                "all 3 volume servers (weed shell volume.list)" if outcome.get("verified")
                else f"3 replicas NOT verified: {outcome.get('reason')}")
    capped = [m for m in models if m.startswith("capped")]
    return [
        "  seaweedfs 002: a separate SeaweedFS cluster (1 master, 3 volume servers, 1 filer "
        "with S3) whose bucket rep3 has fs.configure -replication=002: the client sends each "
        "byte once and the volume server copies it to the other two; stored/logical counts "
        "the three volume servers' .dat files; " + verified,
        "  seaweedfs 002 runs on the uncapped model only" + (
            f" (not under {', '.join(capped)}): its servers share loopback, not capped links"
            if capped else "") + "; it has no node-down reads",
    ]


def _ratio(report: Report, variant: str, workload: str, base_variant: str,
           base_workload: str) -> float | None:
    ours, base = report.find(variant, workload), report.find(base_variant, base_workload)
    return None if ours is None or base is None else ours.mb_per_s / base.mb_per_s


def _checks(report: Report) -> list[dict]:
    checks = []
    codec = report.find("encode RS(4,2)", "codec, one core")
    checks.append({"name": "encode >= 1.5 GB/s on one core (fresh stripes, copy + checksums)",
                   "value": f"{codec.mb_per_s / 1e3:.2f} GB/s",
                   "passed": codec.mb_per_s >= 1500})
    for label in report.meta["models"]:
        def ratio(variant, workload, base_variant, base_workload, label=label):
            return _ratio(report, variant, f"{workload} [{label}]", base_variant,
                          f"{base_workload} [{label}]")

        for name, value, target in (
            ("EC write / 3-replica write", ratio(EC, "write", REPLICA, "write"),
             1.4 if label.startswith("capped") else None),
            ("EC healthy read / plain copy read",
             ratio(EC, "read healthy", PLAIN, "read healthy"), 0.9),
            ("EC read, 2 nodes down / EC healthy read",
             ratio(EC, "read 2 nodes down", EC, "read healthy"), 0.5),
        ):
            checks.append({
                "name": f"[{label}] {name}" + (f" >= {target}" if target else " (reported)"),
                "value": "-" if value is None else f"{value:.2f}",
                "passed": None if target is None else value is not None and value >= target,
            })
        seaweed_ratio = ratio(EC, "write", SEAWEED, "write")
        if seaweed_ratio is not None:
            checks.append({"name": f"[{label}] EC write / seaweedfs 002 write (reported)",
                           "value": f"{seaweed_ratio:.2f}", "passed": None})
            seaweed = report.find(SEAWEED, f"write [{label}]").extra["stored_per_logical"]
            verified = (report.meta["seaweed_002"] or {}).get("verified")
            checks.append({"name": f"[{label}] seaweedfs 002: 3 replicas on 3 volume servers, "
                           "stored/logical ~ 3", "value": f"{seaweed:.3f}",
                           "passed": bool(verified) and 2.9 <= seaweed <= 3.1})
        stored = report.find(EC, f"write [{label}]").extra["stored_per_logical"]
        checks.append({"name": f"[{label}] EC stored/logical <= 1.52",
                       "value": f"{stored:.3f}", "passed": stored <= 1.52})
    return checks
