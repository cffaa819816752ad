"""The demo's storage sections: the read cache, the erasure-coded store, write-back.

Each runs the library on the tour's real store at the tour's size, checks every byte it
reads back, and says what its figures mean; the full comparisons are ``tierfs-bench``'s.
"""

from __future__ import annotations

import logging
import os
import statistics

import fsspec

from tierfs.ec import ECFileSystem
from tierfs_bench.demo_tour import MiB, Section, Tour, mb_per_s, timed
from tierfs_bench.ec_replica import ReplicatedStore


def _s3(tour: Tour):
    return fsspec.filesystem("s3", skip_instance_cache=True, **tour.storage_options)


def _read_each(fs, paths: list[str]) -> dict[str, bytes]:
    """Every file opened and read whole, one after the other (as a training loop does)."""
    result = {}
    for path in paths:
        with fs.open(path, "rb") as file:
            result[path] = file.read()
    return result


def read_cache(tour: Tour) -> Section:
    size = tour.size
    s3 = _s3(tour)
    files = {f"{tour.bucket}/read/{i}.bin": os.urandom(size.read_file_size)
             for i in range(size.read_files)}
    paths, total = list(files), size.read_files * size.read_file_size
    ssd = tour.workdir / "read-ssd"

    def tierfs(tiers):
        return fsspec.filesystem("tierfs", target_protocol="s3", skip_instance_cache=True,
                                 target_options=tour.storage_options, tiers=tiers)

    prime = f"{tour.bucket}/read/prime"  # read untimed by every reader: connections open

    with tour.steps("read cache", 5) as done:
        s3.pipe(files | {prime: b"prime"})
        done("data uploaded")
        s3.invalidate_cache()
        s3.cat_file(prime)
        direct_s, direct = timed(lambda: _read_each(s3, paths))
        done("s3fs")
        fs = tierfs([{"medium": "memory", "capacity": "256MiB"},
                     {"medium": "ssd", "path": str(ssd), "capacity": "2GiB"}])
        fs.cat_file(prime)
        primed = fs.cache_stats()["under_store_bytes"]
        cold_s, cold = timed(lambda: _read_each(fs, paths))
        drain_s, _ = timed(fs.cache_stats)
        done("tierfs cold")
        fetched = fs.cache_stats()["under_store_bytes"] - primed
        warm_s = statistics.median(timed(lambda: _read_each(fs, paths))[0] for _ in range(3))
        warm_fetched = fs.cache_stats()["under_store_bytes"] - fetched - primed
        done("tierfs warm")
        restarted = tierfs([{"medium": "ssd", "path": str(ssd), "capacity": "2GiB"}])
        restarted.cat_file(prime)
        primed = restarted.cache_stats()["under_store_bytes"]
        ssd_s, from_ssd = timed(lambda: _read_each(restarted, paths))
        warm_fetched += restarted.cache_stats()["under_store_bytes"] - primed
        done("tierfs after a restart")
    verified = direct == cold == from_ssd == files and _read_each(fs, paths) == files
    rates = {"s3fs, no cache": mb_per_s(total, direct_s),
             "tierfs cold (bytes returned)": mb_per_s(total, cold_s),
             "tierfs cold (in the tiers)": mb_per_s(total, cold_s + drain_s),
             "tierfs warm, memory tier": mb_per_s(total, warm_s),
             "tierfs warm, ssd after restart": mb_per_s(total, ssd_s)}
    warm_x = rates["tierfs warm, memory tier"] / rates["s3fs, no cache"]
    return Section(
        "read-cache", "Read cache: cold, then warm", [
            f"cold: {rates['tierfs cold (bytes returned)']:,.0f} MB/s until the bytes were "
            f"returned, {rates['tierfs cold (in the tiers)']:,.0f} MB/s until they were in the "
            f"tiers; s3fs straight from the store {rates['s3fs, no cache']:,.0f} MB/s "
            f"({size.read_files} files of {size.read_file_size / MiB:g} MiB, each read whole; "
            f"{fetched / MiB:g} MiB fetched)",
            f"warm: {rates['tierfs warm, memory tier']:,.0f} MB/s from the memory tier "
            f"({warm_x:.1f}x s3fs), {rates['tierfs warm, ssd after restart']:,.0f} MB/s from "
            f"the ssd tier in a new instance; {warm_fetched} bytes fetched again",
            f"meaning: the first read took {cold_s / direct_s:.1f}x the time of a direct read "
            "(it also filled the tiers); every later one, in this process or after a "
            "restart, was served locally without touching the network",
        ],
        f"warm reads {warm_x:.1f}x s3fs, {warm_fetched} bytes refetched",
        rates, "MB/s", verified and warm_fetched == 0,
        {"bytes": total, "fetched_cold": fetched, "fetched_warm": warm_fetched} | rates)


def erasure_coding(tour: Tour) -> Section:
    logging.getLogger("tierfs.ec").setLevel(logging.ERROR)  # the lost node is the point
    s3 = _s3(tour)
    ec_nodes = [f"{tour.bucket}-ec{i}" for i in range(6)]
    rep_nodes = [f"{tour.bucket}-rep{i}" for i in range(6)]
    data = os.urandom(tour.size.ec_file_size)
    with tour.steps("erasure coding", 4) as done:
        for bucket in ec_nodes + rep_nodes:
            s3.mkdir(bucket)
        ec = ECFileSystem(targets=[f"s3://{b}" for b in ec_nodes],
                          target_options=tour.storage_options, skip_instance_cache=True)
        replicas = ReplicatedStore({b: s3 for b in rep_nodes})
        ec_write_s, _ = timed(lambda: ec.pipe_file("f0", data))
        rep_write_s, _ = timed(lambda: replicas.write("f0", data))
        done("written both ways")
        s3.invalidate_cache()
        stored = {name: sum(s3.du(b) for b in buckets) / len(data)
                  for name, buckets in (("ec", ec_nodes), ("rep", rep_nodes))}
        done("stored bytes counted")
        lost = ec.manifest("f0").targets[0].removeprefix("s3://")  # data fragment 0's node
        index = ec_nodes.index(lost)
        for bucket in (lost, rep_nodes[index]):  # the same node of each store loses its disk
            objects = s3.find(bucket)
            if objects:  # a file of few blocks leaves some replica nodes empty
                s3.rm(objects)
        s3.invalidate_cache()
        done(f"node {index} lost")
        ec_read_s, ec_back = timed(
            lambda: ECFileSystem(targets=[f"s3://{b}" for b in ec_nodes],
                                 target_options=tour.storage_options,
                                 skip_instance_cache=True).cat_file("f0"))
        rep_read_s, rep_back = timed(lambda: replicas.read("f0", len(data)))
        done("read back")
    size = len(data)
    rates = {"EC 4+2 write": mb_per_s(size, ec_write_s),
             "3-replica write": mb_per_s(size, rep_write_s),
             "EC read, node lost": mb_per_s(size, ec_read_s),
             "3-replica read, node lost": mb_per_s(size, rep_read_s)}
    return Section(
        "erasure-coding", "Erasure coding (RS 4+2) vs 3 replicas", [
            f"stored: {stored['ec']:.2f} bytes per byte with RS(4,2), {stored['rep']:.2f} with "
            "three replicas: the same safety (any 2 of 6 nodes may fail) on half the disks",
            f"write: EC {rates['EC 4+2 write']:,.0f} MB/s, 3-replica "
            f"{rates['3-replica write']:,.0f} MB/s ({size / MiB:g} MiB; six buckets of one "
            "local SeaweedFS stand in for six nodes, so no network is saved here)",
            f"node {index} lost (every object on it deleted): EC rebuilt its fragment while "
            f"reading at {rates['EC read, node lost']:,.0f} MB/s, 3-replica read the other "
            f"copies at {rates['3-replica read, node lost']:,.0f} MB/s; both returned every "
            "byte",
        ],
        f"{stored['ec']:.2f}x stored vs {stored['rep']:.2f}x, a lost node survived",
        rates, "MB/s", ec_back == data and rep_back == data,
        {"stored_per_byte_ec": stored["ec"], "stored_per_byte_3_replica": stored["rep"],
         "lost_node": index} | rates)


def _sooner_or_later(direct_s: float, ack_s: float) -> str:
    """How much sooner the writer was back than writing straight to the store, or, when a
    store on loopback answered faster than the local fsyncs, how much later."""
    if ack_s <= direct_s:
        return f"{direct_s / ack_s:.1f}x sooner"
    return f"{ack_s / direct_s:.1f}x later (this store, on loopback, beat the local fsyncs)"


def write_back(tour: Tour) -> Section:
    size = tour.size
    s3 = _s3(tour)
    payloads = [os.urandom(size.writeback_file_size) for _ in range(size.writeback_files)]
    files = {f"{tour.bucket}/ckpt/{i:03d}.bin": data for i, data in enumerate(payloads)}
    total = sum(map(len, payloads))
    fs = fsspec.filesystem("tierfs", target_protocol="s3", target_options=tour.storage_options,
                           write_mode="back", buffer_dir=str(tour.workdir / "wb-buffer"),
                           buffer_capacity="1GiB", skip_instance_cache=True)

    def straight_to_the_store() -> None:
        for i, data in enumerate(payloads):
            s3.pipe_file(f"{tour.bucket}/direct/{i:03d}.bin", data)

    def through_tierfs() -> None:
        for path, data in files.items():
            with fs.open(path, "wb") as file:
                file.write(data)

    with tour.steps("write-back", 3) as done:
        direct_s, _ = timed(straight_to_the_store)
        done("straight to the store")
        ack_s, _ = timed(through_tierfs)
        done("acknowledged")
        flush_s, flushed = timed(fs.wait_flushed)
        done("uploaded")
    s3.invalidate_cache()
    verified = flushed and s3.cat(list(files)) == files
    rates = {"straight to the store": mb_per_s(total, direct_s),
             "write-back, acknowledged": mb_per_s(total, ack_s),
             "write-back, in the store": mb_per_s(total, ack_s + flush_s)}
    back = _sooner_or_later(direct_s, ack_s)
    return Section(
        "write-back", "Write-back: acknowledged locally, uploaded behind", [
            f"{len(files)} files ({total / MiB:g} MiB) acknowledged in {ack_s:.2f} s, each "
            f"fsynced in the local buffer with its journal record; straight to the store "
            f"{direct_s:.2f} s: the writer is back at work {back}",
            f"every file was in the store {ack_s + flush_s:.2f} s after the start; a crash "
            "before that loses nothing (a restart replays the journal and uploads the rest)",
        ],
        f"writer back {back}, all uploaded {ack_s + flush_s:.1f} s later",
        rates, "MB/s", bool(verified),
        {"bytes": total, "direct_s": direct_s, "ack_s": ack_s, "flush_s": flush_s})
