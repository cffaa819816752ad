"""The remote-store model: a proxy in front of the session's SeaweedFS adding latency and a
per-connection rate, passing every byte unchanged."""

from __future__ import annotations

import json
import os
import time
from contextlib import ExitStack

import fsspec
import pytest

from tierfs_bench import remote_model
from tierfs_bench.cli import main
from tierfs_bench.remote_model import ModelParameters, RemoteStoreModel

MiB = 2**20


@pytest.fixture
def through_model(seaweed):
    """``open(parameters)``: an s3fs filesystem whose requests cross a new model."""
    with ExitStack() as stack:
        yield lambda parameters: fsspec.filesystem("s3", skip_instance_cache=True, **(
            remote_model.through_model(seaweed.storage_options(), parameters, stack)))


def _timed(call) -> tuple[object, float]:
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


def test_every_byte_passes_unchanged_both_ways(s3, bucket, through_model):
    modelled = through_model(ModelParameters(latency=0.001, rate=500e6))
    data = os.urandom(3 * MiB + 11)

    modelled.pipe(f"{bucket}/up", data)  # an upload crosses the model too

    assert s3.cat_file(f"{bucket}/up") == data
    assert modelled.cat_file(f"{bucket}/up") == data
    assert modelled.cat_file(f"{bucket}/up", start=MiB - 5, end=2 * MiB + 7) == \
        data[MiB - 5:2 * MiB + 7]


def test_each_request_waits_the_latency(s3, bucket, through_model):
    s3.pipe(f"{bucket}/small", b"x" * 1000)
    modelled = through_model(ModelParameters(latency=0.05, rate=500e6))
    modelled.cat_file(f"{bucket}/small", start=0, end=10)  # the connection, opened untimed

    _, seconds = _timed(lambda: [modelled.cat_file(f"{bucket}/small", start=i, end=i + 10)
                                 for i in range(10)])

    assert 10 * 0.05 <= seconds < 10 * 0.05 + 1.0


def test_a_connection_carries_at_most_the_rate_and_each_connection_has_its_own(
        s3, bucket, through_model):
    data = os.urandom(8 * MiB)
    s3.pipe(f"{bucket}/a", data)
    s3.pipe(f"{bucket}/b", data)
    modelled = through_model(ModelParameters(latency=0.001, rate=20e6))
    modelled.cat([f"{bucket}/a", f"{bucket}/b"])  # two connections, opened untimed
    alone = len(data) / 20e6  # 0.42 s

    one, one_seconds = _timed(lambda: modelled.cat_file(f"{bucket}/a"))
    both, both_seconds = _timed(lambda: modelled.cat([f"{bucket}/a", f"{bucket}/b"]))

    assert one == data and list(both.values()) == [data, data]
    assert 0.95 * alone <= one_seconds < 1.5 * alone + 0.3
    assert 0.95 * alone <= both_seconds < 1.5 * alone + 0.3  # not twice as long


def test_parameters_are_validated_and_described(seaweed):
    with pytest.raises(ValueError, match="upstream"):
        RemoteStoreModel("https://127.0.0.1:9")
    with pytest.raises(ValueError, match="parameters"):
        RemoteStoreModel(seaweed.endpoint_url, ModelParameters(rate=0))
    assert ModelParameters().describe() == (
        "remote-store model: +30 ms before each request, 80 MB/s per connection")


def test_read_scenario_runs_under_the_model_and_reports_its_parameters(
        seaweed, shared_bucket, tmp_path):
    out = tmp_path / "read.json"
    code = main([
        "read", "--quick", "--small-files", "4", "--random-reads", "8", "--min-time", "0",
        "--runs", "1", "--variants", "tierfs", "--workloads", "sequential,small-cat",
        "--remote-model", "--model-latency", "5", "--model-rate", "200MB",
        "--endpoint", seaweed.endpoint_url, "--key", seaweed.access_key,
        "--secret", seaweed.secret_key, "--bucket", shared_bucket,
        "--workdir", str(tmp_path / "work"), "--json", str(out),
    ])

    assert code == 0
    payload = json.loads(out.read_text())
    assert payload["meta"]["remote_model"] == {"latency_s": 0.005, "bytes_per_s": 200e6}
    assert any("+5 ms before each request, 200 MB/s per connection" in note
               for note in payload["notes"])
    assert not [note for note in payload["notes"] if note.startswith(("FAILED", "WARNING"))]
