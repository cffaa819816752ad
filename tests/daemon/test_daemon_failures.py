"""The daemon fails safely: killed, restarted, or misused, it never yields wrong bytes."""

from __future__ import annotations

import os
import threading

import pytest

from tests.daemon.test_daemon_reads import MiB, daemon_fs
from tierfs.daemon_client import DaemonUnavailable


def test_sigkill_during_reads_falls_back_to_direct_reads(seaweed, s3, bucket, start_daemon):
    daemon = start_daemon()
    files = {f"{bucket}/f{i}": os.urandom(3 * MiB + i) for i in range(6)}
    s3.pipe(files)
    fs = daemon_fs(seaweed, daemon.url, short_circuit=False)
    errors, checked = [], []

    def reader():
        try:
            for _ in range(3):
                for path, data in files.items():
                    checked.append(fs.cat_file(path) == data)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    daemon.kill()
    for thread in threads:
        thread.join(120)
    assert not errors and checked and all(checked)
    assert fs.cache_stats()["under_store_bytes"] > 0  # the fallback did the reading


def test_with_the_error_policy_a_dead_daemon_raises_a_clear_error(seaweed, s3, bucket,
                                                                   start_daemon):
    daemon = start_daemon()
    s3.pipe(f"{bucket}/f", os.urandom(MiB))
    fs = daemon_fs(seaweed, daemon.url, short_circuit=False, daemon_fallback="error")
    daemon.kill()
    with pytest.raises(DaemonUnavailable, match="unavailable"):
        fs.cat_file(f"{bucket}/f")


def test_a_restarted_daemon_is_still_warm(seaweed, s3, bucket, start_daemon):
    daemon = start_daemon()
    data = os.urandom(4 * MiB)
    s3.pipe(f"{bucket}/f", data)
    assert daemon_fs(seaweed, daemon.url, short_circuit=False).cat_file(f"{bucket}/f") == data
    assert daemon.terminate() == 0  # SIGTERM: graceful
    daemon.start()
    assert daemon_fs(seaweed, daemon.url, short_circuit=False).cat_file(f"{bucket}/f") == data
    stats = daemon.stats()
    assert stats["under_store_bytes"] == 0 and stats["hits"] == 4


def test_requests_without_the_token_get_401(seaweed, s3, bucket, start_daemon):
    token = "t0ken-" + "x" * 20
    daemon = start_daemon(server={"token": token})
    assert daemon.get("/healthz", token="")[0] == 200
    daemon.token = None
    assert daemon.get("/v1/stats")[0] == 401
    assert daemon.get("/v1/stats", token="wrong-token-xxxxxxxxxx")[0] == 401
    assert daemon.get("/metrics")[0] == 401
    assert daemon.get("/v1/stats", token=token)[0] == 200
    data = os.urandom(MiB)
    s3.pipe(f"{bucket}/f", data)
    fs = daemon_fs(seaweed, daemon.url, short_circuit=False, daemon_token=token,
                   daemon_fallback="error")
    assert fs.cat_file(f"{bucket}/f") == data


@pytest.mark.parametrize("path", [
    "tierfs-tests/../other-bucket/x", "tierfs-tests/a/../../etc/passwd", "/etc/passwd",
    "other-bucket/x", "tierfs-tests/./x", "tierfs-tests//x", "tierfs-tests/x\\..\\y",
])
def test_path_traversal_attempts_get_400(start_daemon, path):
    import json
    import urllib.request

    daemon = start_daemon()
    body = json.dumps({"mount": "tests", "path": path, "size": 10, "version": "v",
                       "index": 0}).encode()
    request = urllib.request.Request(daemon.url + "/v1/block", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 400


def test_oversized_requests_are_refused(start_daemon):
    import urllib.request

    daemon = start_daemon()
    request = urllib.request.Request(daemon.url + "/v1/block", data=b"{" * (2 * MiB),
                                     method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 413


def test_a_client_with_a_stale_version_gets_a_conflict_not_mixed_bytes(seaweed, s3, bucket,
                                                                         start_daemon):
    from tierfs.cache import ObjectChangedError

    daemon = start_daemon()
    s3.pipe(f"{bucket}/f", b"a" * (2 * MiB))
    fs = daemon_fs(seaweed, daemon.url, short_circuit=False, metadata_ttl=-1,
                   daemon_fallback="error")
    assert fs.info(f"{bucket}/f")["size"] == 2 * MiB  # remembers the old version for ever
    s3.pipe(f"{bucket}/f", b"b" * (2 * MiB))
    with pytest.raises(ObjectChangedError, match="changed"):
        fs.cat_file(f"{bucket}/f")
    fs.invalidate_cache(f"{bucket}/f")
    assert fs.cat_file(f"{bucket}/f") == b"b" * (2 * MiB)
