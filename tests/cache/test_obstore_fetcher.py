"""Cold fetches through obstore, against the session's SeaweedFS: bytes, options, errors."""

from __future__ import annotations

import logging
import multiprocessing
import os
import random

import fsspec
import pytest

from tierfs.cache import CacheCounters, ObjectChangedError, ObjectRef, RangeFetcher
from tierfs.cache.fetcher import BlockRequest
from tierfs.cache.obstore_fetcher import ObstoreFetcher, build_cold_fetcher
from tierfs.s3_obstore import UntranslatableOption, translate_s3_options

_AWS_ENV = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION",
            "AWS_ACCESS_KEY_ID")


@pytest.fixture(autouse=True)
def _no_aws_environment(monkeypatch):
    for name in _AWS_ENV:
        monkeypatch.delenv(name, raising=False)


def _s3(options: dict):
    return fsspec.filesystem("s3", skip_instance_cache=True, **options)


def _requests(path: str, size: int, ranges) -> list[BlockRequest]:
    obj = ObjectRef("s3", path, size, "v1")
    return [BlockRequest(obj, index, start, end) for index, (start, end) in enumerate(ranges)]


def test_fetches_exact_bytes_for_many_ranges(seaweed, bucket):
    data = os.urandom(3 * 2**20 + 17)
    path = f"{bucket}/object"
    target = _s3(seaweed.storage_options())
    target.pipe(path, data)
    counters = CacheCounters()
    fetcher = build_cold_fetcher("obstore", target, 8, counters)
    rng = random.Random(5)
    ranges = [(0, len(data)), (0, 1), (len(data) - 1, len(data))]
    ranges += [sorted(rng.sample(range(len(data) + 1), 2)) for _ in range(60)]

    fetched = fetcher.fetch(_requests(path, len(data), ranges))

    assert [bytes(chunk) for chunk in fetched] == [data[start:end] for start, end in ranges]
    assert counters.snapshot()["under_store_requests"] == len(ranges)


@pytest.mark.parametrize(("options", "config", "client"), [
    ({"key": "K", "secret": "S", "client_kwargs": {"endpoint_url": "http://127.0.0.1:9",
                                                   "region_name": "eu-west-1"}},
     {"access_key_id": "K", "secret_access_key": "S", "endpoint": "http://127.0.0.1:9",
      "virtual_hosted_style_request": False, "region": "eu-west-1"},
     {"allow_http": True}),
    ({"key": "K", "secret": "S", "token": "T", "endpoint_url": "https://s3.example.org"},
     {"access_key_id": "K", "secret_access_key": "S", "session_token": "T",
      "endpoint": "https://s3.example.org", "virtual_hosted_style_request": False,
      "region": "us-east-1"},
     {"allow_http": False}),
    ({"anon": True, "client_kwargs": {"region_name": "us-west-2"}},
     {"skip_signature": True, "region": "us-west-2"}, {}),
    ({"username": "K", "password": "S", "region": "ap-south-1", "use_ssl": True,
      "default_block_size": 2**20, "use_listings_cache": False, "skip_instance_cache": True},
     {"access_key_id": "K", "secret_access_key": "S", "region": "ap-south-1"}, {}),
    ({"client_kwargs": {"aws_access_key_id": "K", "aws_secret_access_key": "S",
                        "aws_session_token": "T", "region_name": "us-east-2"},
      "requester_pays": False, "config_kwargs": {}},
     {"access_key_id": "K", "secret_access_key": "S", "session_token": "T",
      "region": "us-east-2"}, {}),
])
def test_s3fs_options_translate_to_obstore_config(options, config, client):
    assert translate_s3_options(options) == (config, client)


def test_endpoint_and_region_come_from_the_environment_as_for_botocore(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "K")

    config, client = translate_s3_options({})

    assert config == {"endpoint": "http://127.0.0.1:9", "virtual_hosted_style_request": False,
                      "region": "us-east-1"}
    assert client == {"allow_http": True}


@pytest.mark.parametrize(("extra", "name"), [
    ({"config_kwargs": {"retries": {"max_attempts": 1}}}, "config_kwargs"),
    ({"requester_pays": True}, "requester_pays"),
    ({"s3_additional_kwargs": {"ServerSideEncryption": "aws:kms"}}, "s3_additional_kwargs"),
    ({"client_kwargs": {"verify": False, "endpoint_url": "http://127.0.0.1:9"}},
     "client_kwargs.verify"),
    ({"profile": "work"}, "profile"),
])
def test_untranslatable_option_keeps_s3fs_and_logs_its_name_only(seaweed, caplog, extra, name):
    options = seaweed.storage_options() | extra
    with pytest.raises(UntranslatableOption, match=name):
        translate_s3_options(options)
    caplog.set_level(logging.INFO, logger="tierfs.cache.obstore_fetcher")

    fetcher = build_cold_fetcher("auto", _s3(options), 8, CacheCounters())

    assert type(fetcher) is RangeFetcher
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 1 and name in lines[0]
    assert seaweed.secret_key not in lines[0] and seaweed.access_key not in lines[0]


def test_asking_for_obstore_with_an_untranslatable_option_names_the_key(seaweed):
    target = _s3(seaweed.storage_options() | {"requester_pays": True})
    with pytest.raises(ValueError, match="cold_fetcher.*requester_pays"):
        build_cold_fetcher("obstore", target, 8, CacheCounters())


def test_missing_object_raises_file_not_found(seaweed, bucket):
    target = _s3(seaweed.storage_options())
    fetcher = build_cold_fetcher("obstore", target, 8, CacheCounters())
    with pytest.raises(FileNotFoundError, match="missing"):
        fetcher.fetch(_requests(f"{bucket}/missing", 10, [(0, 10)]))


def test_wrong_secret_raises_permission_error_without_the_secret(seaweed, bucket):
    path = f"{bucket}/object"
    _s3(seaweed.storage_options()).pipe(path, b"x" * 100)
    wrong = seaweed.storage_options() | {"secret": "not-the-" + seaweed.secret_key}
    fetcher = build_cold_fetcher("obstore", _s3(wrong), 8, CacheCounters())

    with pytest.raises(PermissionError) as raised:
        fetcher.fetch(_requests(path, 100, [(0, 100)]))

    assert seaweed.secret_key not in str(raised.value)


def test_object_shorter_than_its_known_size_raises_object_changed(seaweed, bucket):
    path = f"{bucket}/object"
    target = _s3(seaweed.storage_options())
    target.pipe(path, b"x" * 100)
    fetcher = build_cold_fetcher("obstore", target, 8, CacheCounters())

    for ranges in ([(50, 150)], [(120, 150)]):  # ends past the end; starts past it
        with pytest.raises(ObjectChangedError):
            fetcher.fetch(_requests(path, 150, ranges))


def test_unknown_cold_fetcher_is_a_value_error_naming_the_key(seaweed):
    with pytest.raises(ValueError, match="cold_fetcher"):
        fsspec.filesystem("tierfs", target_protocol="s3", skip_instance_cache=True,
                          target_options=seaweed.storage_options(), cold_fetcher="rust",
                          tiers=[{"medium": "memory", "capacity": "4MiB"}])


def _tierfs(seaweed, **options):
    return fsspec.filesystem("tierfs", target_protocol="s3", skip_instance_cache=True,
                             target_options=seaweed.storage_options(), block_size=2**20,
                             tiers=[{"medium": "memory", "capacity": "16MiB"}], **options)


def test_tierfs_on_s3_fetches_through_obstore_by_default(seaweed, bucket):
    data = os.urandom(3 * 2**20)
    _s3(seaweed.storage_options()).pipe(f"{bucket}/a", data)
    fs = _tierfs(seaweed)

    assert isinstance(fs._cached.source.fetcher, ObstoreFetcher)
    assert fs.cat_file(f"{bucket}/a") == data
    assert fs.cat_file(f"{bucket}/a", start=5, end=2**20 + 9) == data[5:2**20 + 9]
    assert fs.cache_stats()["under_store_bytes"] == len(data)
    assert type(_tierfs(seaweed, cold_fetcher="s3fs")._cached.source.fetcher) is RangeFetcher


def _read_in_child(seaweed, path: str, expected: bytes, results) -> None:
    """A forked worker opens its own tierfs, as fsspec's instance cache makes it do."""
    fs = _tierfs(seaweed)
    results.put((fs.cat_file(path) == expected, fs.cache_stats()["under_store_bytes"]))


def test_a_child_forked_after_obstore_ran_reads_through_s3fs(seaweed, bucket):
    data = os.urandom(2**20 + 3)
    _s3(seaweed.storage_options()).pipe(f"{bucket}/object", data)
    assert _tierfs(seaweed).cat_file(f"{bucket}/object") == data  # obstore ran here
    context = multiprocessing.get_context("fork")
    results = context.Queue()

    child = context.Process(target=_read_in_child,
                            args=(seaweed, f"{bucket}/object", data, results))
    child.start()
    child.join(60)

    assert child.exitcode == 0, "the forked child hung or failed"
    assert results.get(timeout=5) == (True, len(data))
