"""The demo's sharing sections: one cache daemon for every process, and the shuffle service.

Client processes are real (spawned) and check every byte against a local copy; shuffle
blocks are checked by the service's own digests and again here against what was written.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import fsspec
import xxhash

from tierfs.shuffle import open_service
from tierfs_bench.daemon_clients import Job, run_clients
from tierfs_bench.daemon_load import start_daemon, write_random_file
from tierfs_bench.demo_tour import MiB, Section, Tour, mb_per_s, timed


def shared_daemon(tour: Tour, stack) -> Section:
    size, clients = tour.size.daemon_file_size, tour.size.daemon_clients
    s3 = fsspec.filesystem("s3", skip_instance_cache=True, **tour.storage_options)
    path, reference = f"{tour.bucket}/shared.bin", tour.workdir / "shared.reference"
    target = {"target_protocol": "s3", "target_options": tour.storage_options}
    job = Job("sequential", None, 4 * MiB, size)
    with tour.steps("daemon shared by processes", 4) as done:
        write_random_file(s3, path, reference, size)
        sockets = stack.enter_context(tempfile.TemporaryDirectory(prefix="tierfs-demo-sock-"))
        daemon = start_daemon(tour.storage_options, tour.bucket, tour.workdir, Path(sockets))
        stack.callback(daemon.stop)
        done("daemon up")
        private = target | {"tiers": [{"medium": "memory", "capacity": "256MiB"}]}
        _, alone = run_clients(private, path, str(reference), clients, job, 1, None,
                               "forkserver")
        alone_fetched = sum(r.under_store_bytes + r.fetched_to_open for r in alone)
        done("each process alone")
        through = target | {"daemon": daemon.url}
        before = daemon.stats()["under_store_bytes"]
        _, shared = run_clients(through, path, str(reference), clients, job, 2, None,
                                  "forkserver")
        shared_fetched = daemon.stats()["under_store_bytes"] - before
        done("through the daemon, cold")
        warm_s, warm = run_clients(through, path, str(reference), clients, job, 3, None,
                                     "forkserver")
        warm_fetched = daemon.stats()["under_store_bytes"] - before - shared_fetched
        done("through the daemon, warm")
    results = alone + shared + warm
    verified = not any(r.errors or r.wrong for r in results)
    fetched = {"each process alone": alone_fetched / MiB,
               "one daemon, cold": shared_fetched / MiB,
               "one daemon, warm": warm_fetched / MiB}
    warm_rate = mb_per_s(clients * size, warm_s)
    return Section(
        "daemon", "One cache daemon shared by every process", [
            f"{clients} processes read the same {size / MiB:g} MiB at once: each with its own "
            f"cache, the store sent {alone_fetched / MiB:g} MiB; through the node's daemon "
            f"{shared_fetched / MiB:g} MiB, each byte once",
            f"warm, the {clients} processes read {warm_rate:,.0f} MB/s together straight from "
            f"the daemon's tier files (short-circuit), {warm_fetched} bytes fetched; "
            f"{sum(r.wrong for r in results)} reads differed from the local copy",
        ],
        f"store sent {shared_fetched / MiB:g} MiB instead of {alone_fetched / MiB:g} MiB",
        fetched, "MiB read from the store", verified,
        {"clients": clients, "file_bytes": size, "warm_mb_per_s": warm_rate,
         "fetched_alone": alone_fetched, "fetched_daemon": shared_fetched,
         "fetched_warm": warm_fetched})


def shuffle(tour: Tour) -> Section:
    size = tour.size
    maps, partitions = size.shuffle_maps, size.shuffle_partitions
    piece = size.shuffle_map_bytes // partitions
    blocks = [[os.urandom(piece) for _ in range(partitions)] for _ in range(maps)]
    expected = [sorted(xxhash.xxh3_64_intdigest(blocks[m][p]) for m in range(maps))
                for p in range(partitions)]
    total = maps * partitions * piece
    services = {"local://": (f"local://{tour.workdir / 'shuffle'}", {}),
                "s3://": (f"s3://{tour.bucket}/shuffle", tour.storage_options)}
    times, verified = {}, True
    with tour.steps("shuffle", 2 * len(services)) as done:
        for name, (url, options) in services.items():
            handle = open_service(url, **options).create(f"demo-{uuid.uuid4().hex[:8]}",
                                                         partitions)

            def write_maps(handle=handle) -> None:
                for m in range(maps):
                    with handle.map_writer(m, 0) as writer:
                        for p in range(partitions):
                            writer.write(p, blocks[m][p])
                        writer.commit()

            def read_partitions(handle=handle) -> list[list[int]]:
                return [sorted(xxhash.xxh3_64_intdigest(bytes(block)) for block in
                               handle.reader(p, map_ids=range(maps)).iter_bytes())
                        for p in range(partitions)]

            write_s, _ = timed(write_maps)
            done(f"{name} maps written")
            read_s, digests = timed(read_partitions)
            done(f"{name} partitions read")
            times[name] = (write_s, read_s)
            verified = verified and digests == expected
            handle.delete()
    rates = {f"{name} {kind}": mb_per_s(total, seconds[i]) for name, seconds in times.items()
             for i, kind in enumerate(("write", "read"))}
    return Section(
        "shuffle", "Shuffle: one API, local disk or object store", [
            f"{maps} maps x {partitions} partitions ({total / MiB:g} MiB): local:// wrote "
            f"{rates['local:// write']:,.0f} MB/s and read {rates['local:// read']:,.0f} MB/s; "
            f"s3:// wrote {rates['s3:// write']:,.0f} MB/s and read "
            f"{rates['s3:// read']:,.0f} MB/s",
            "meaning: the same map writers and partition readers; the URL chooses where map "
            "output lives (node disk, the daemon, any object store that outlives the "
            "executors); every block carries its map, attempt and an xxh3 digest",
        ],
        f"one API, two stores: maps written at {rates['local:// write']:,.0f} MB/s locally, "
        f"{rates['s3:// write']:,.0f} MB/s to S3",
        rates, "MB/s", verified, {"bytes": total} | rates)
