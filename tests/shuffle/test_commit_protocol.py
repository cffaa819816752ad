"""Commit rules: one attempt per map counts, uncommitted output is never read, errors name it."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

import tierfs.shuffle
from tests.shuffle.killed_mapper import payload
from tierfs.shuffle import MissingMapOutputError, ShuffleCommitError, ShuffleNotFoundError


def _id() -> str:
    return f"c-{uuid.uuid4().hex[:12]}"


def _commit(shuffle, map_id: int, attempt: int, data: dict[int, bytes]):
    with shuffle.map_writer(map_id, attempt) as writer:
        for partition, value in data.items():
            writer.write(partition, value)
        return writer.commit()


def test_two_committed_attempts_of_one_map_count_once(open_backend, backend):
    shuffle = open_backend(backend).create(_id(), 2)
    first = _commit(shuffle, 0, 1, {0: b"first", 1: b"one"})
    second = _commit(shuffle, 0, 2, {0: b"second", 1: b"two"})
    assert (first.attempt, second.attempt) == (1, 1)  # the later commit gets the winner's record
    _commit(shuffle, 1, 0, {0: b"+other"})
    assert shuffle.reader(0, map_ids=[0, 1]).read_bytes() == b"first+other"
    assert shuffle.reader(1, commits=[second]).read_bytes() == b"one"


def test_a_missing_map_is_an_error_naming_it(open_backend, backend):
    shuffle = open_backend(backend).create(_id(), 3)
    for map_id in (0, 2, 3):
        _commit(shuffle, map_id, 0, {1: b"x"})
    with pytest.raises(MissingMapOutputError, match=r"map\(s\) 1, 4") as error:
        shuffle.reader(1, map_ids=range(5)).read_bytes()
    assert error.value.map_ids == [1, 4]
    assert shuffle.reader(1).read_bytes() == b"xxx"  # None: every committed map


def test_aborted_and_uncommitted_attempts_are_never_read(open_backend, backend):
    shuffle = open_backend(backend, buffer_size="64KiB").create(_id(), 2)
    with shuffle.map_writer(0, 0) as writer:
        for _ in range(100):
            writer.write(0, b"aborted " * 200)  # spilled or pushed before the abort
        writer.abort()
    with shuffle.map_writer(0, 1) as writer:
        writer.write(0, b"left open " * 20000)
        # leaving the block without commit aborts
    _commit(shuffle, 0, 2, {0: b"committed"})
    assert shuffle.reader(0, map_ids=[0]).read_bytes() == b"committed"


def test_local_outputs_of_losing_attempts_are_removed(open_backend, tmp_path):
    service = open_backend("local")
    shuffle = service.create(_id(), 1)
    abandoned = shuffle.map_writer(0, 0)
    abandoned.write(0, b"x" * 1000)  # never committed: a task that died
    with shuffle.map_writer(0, 0) as aborted:
        aborted.write(0, b"y")
        aborted.abort()
    _commit(shuffle, 0, 1, {0: b"winner"})
    _commit(shuffle, 0, 2, {0: b"loser"})
    maps = sorted(p.name for p in (tmp_path / "shuffle" / shuffle.shuffle_id / "maps").iterdir())
    assert len(maps) == 1 and maps[0].startswith("0.1.")


def test_a_mapper_killed_mid_write_and_retried_gives_the_exact_output(
        open_backend, backend, seaweed, bucket, request, tmp_path):
    options = {"buffer_size": "32KiB", "block_size": "8KiB"}
    service = open_backend(backend, **options)
    shuffle = service.create(_id(), 3)
    url, store_options = {
        "local": (f"local://{tmp_path}/shuffle", {}),
        "s3": (f"s3://{bucket}/shuffle", seaweed.storage_options()),
        "tierfs::s3": (f"tierfs::s3://{bucket}/shuffle",
                       {"s3": seaweed.storage_options(),
                        "tierfs": {"tiers": [{"medium": "memory", "capacity": "64MiB"}]}}),
        "daemon": (getattr(request.getfixturevalue("shuffle_daemon"), "url", None), {}),
    }[backend]
    mapper = subprocess.Popen(
        [sys.executable, "-m", "tests.shuffle.killed_mapper", url,
         json.dumps(store_options | options), shuffle.shuffle_id, "0", "0"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert mapper.stdout.readline().strip() == "halfway"
    finally:
        mapper.kill()
        mapper.wait()
    _commit(shuffle, 1, 0, {p: payload(1, 0, p) for p in range(3)})
    with pytest.raises(MissingMapOutputError, match="map\\(s\\) 0"):
        shuffle.reader(0, map_ids=[0, 1]).read_bytes()
    retry = {p: b"".join(payload(0, 1, i) for i in range(p, 3000, 3)) for p in range(3)}
    _commit(shuffle, 0, 1, retry)
    for partition in range(3):  # the daemon returns maps in the order their blocks arrived
        got = shuffle.reader(partition, map_ids=[0, 1]).read_bytes()
        assert got in (retry[partition] + payload(1, 0, partition),
                       payload(1, 0, partition) + retry[partition])


def test_writing_after_commit_or_abort_is_an_error(open_backend):
    shuffle = open_backend("local").create(_id(), 2)
    writer = shuffle.map_writer(3, 4)
    writer.commit()
    with pytest.raises(ShuffleCommitError, match="map 3 attempt 4 is already committed"):
        writer.write(0, b"late")
    with pytest.raises(ShuffleCommitError, match="already committed"):
        writer.commit()
    aborted = shuffle.map_writer(4, 0)
    aborted.abort()
    with pytest.raises(ShuffleCommitError, match="already aborted"):
        aborted.write(0, b"late")


@pytest.mark.parametrize("partition", [-1, 2, "0", True])
def test_a_partition_out_of_range_is_named(open_backend, partition):
    shuffle = open_backend("local").create(_id(), 2)
    with pytest.raises(ValueError, match=f"partition {partition!r} is out of range"):
        shuffle.map_writer(0).write(partition, b"x")
    with pytest.raises(ValueError, match="out of range"):
        shuffle.reader(partition)


def test_bad_arguments_are_named(open_backend, tmp_path):
    service = open_backend("local")
    with pytest.raises(ValueError, match="num_partitions"):
        service.create(_id(), -1)
    with pytest.raises(ValueError, match="shuffle_id"):
        service.create("../escape", 2)
    shuffle = service.create(_id(), 2)
    with pytest.raises(ValueError, match="map_id"):
        shuffle.map_writer(-1)
    with pytest.raises(TypeError, match="expected bytes or an Arrow"):
        shuffle.map_writer(0).write(0, "text")
    with pytest.raises(ValueError, match="exists with 2 partitions"):
        service.create(shuffle.shuffle_id, 3)


def test_unknown_shuffles_and_schemes_are_named(open_backend, backend, tmp_path):
    with pytest.raises(ShuffleNotFoundError, match="no shuffle 'nope-404'"):
        open_backend(backend).get("nope-404")
    with pytest.raises(ValueError, match="unknown scheme 'gopher'"):
        tierfs.shuffle.open_service("gopher://host/x")
    with pytest.raises(ValueError, match="compression"):
        tierfs.shuffle.open_service(str(tmp_path), compression="zstd-9")
    with pytest.raises(ValueError, match="bogus: unknown option"):
        tierfs.shuffle.open_service(f"local://{tmp_path}", bogus=1)
