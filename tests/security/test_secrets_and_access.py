"""Secrets and access: no S3 key or daemon token in logs, figures, pages or errors; tier,
buffer and shuffle files private to their user; every daemon route behind the token."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import stat
import subprocess
import sys
import traceback
import urllib.request

import fsspec
import pytest

import tierfs.shuffle
from tierfs.cache.config import TierSpec
from tierfs.embedded import free_ports
from tierfs_server.app import NODE, create_app
from tierfs_server.config import load_config
from tierfs_server.launcher import DaemonProcess, render_config
from tierfs_server.shuffle_store import ShuffleSettings, ShuffleStore

TOKEN = "daemon-token-" + os.urandom(12).hex()
WRONG_SECRET = "wrong-secret-" + os.urandom(12).hex()
OPEN_ROUTES = {"/healthz"}  # liveness probes carry no token, by design


def _request(url: str, method: str = "GET", body: bytes | None = None,
             token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def guarded_daemon(seaweed, shared_bucket, tmp_path):
    """A daemon with a token, a good mount, one with a wrong secret and one nobody serves."""
    port = free_ports(1)[0]
    good = seaweed.storage_options()
    wrong = good | {"secret": WRONG_SECRET}
    dead = good | {"client_kwargs": {"endpoint_url": f"http://127.0.0.1:{free_ports(1)[0]}",
                                     "region_name": "us-east-1"}}
    config = tmp_path / "daemon.toml"
    config.write_text(render_config({
        "server": {"host": "127.0.0.1", "port": port, "token": TOKEN},
        "cache": {"block_size": "1MiB", "tiers": [
            {"medium": "memory", "capacity": "16MiB"},
            {"medium": "ssd", "path": str(tmp_path / "ssd"), "capacity": "64MiB"}]},
        "mounts": {"good": {"url": f"s3://{shared_bucket}", "options": good},
                   "wrong": {"url": f"s3://{shared_bucket}", "options": wrong},
                   "dead": {"url": f"s3://{shared_bucket}", "options": dead}},
        "writeback": {"dir": str(tmp_path / "wb")},
    }))
    daemon = DaemonProcess(config, f"http://127.0.0.1:{port}", TOKEN).start()
    yield daemon
    daemon.stop()


def _secrets(seaweed) -> list[str]:
    return [seaweed.secret_key, seaweed.access_key, WRONG_SECRET, TOKEN]


def _assert_no_secret(text: str, secrets: list[str], where: str) -> None:
    for secret in secrets:
        assert secret not in text, f"{where} shows a secret"


def test_no_key_or_token_in_the_daemons_answers_figures_or_log(guarded_daemon, seaweed, s3,
                                                               bucket):
    s3.pipe(f"{bucket}/x.bin", os.urandom(3 * 2**20))
    texts = {}
    for mount in ("good", "wrong", "dead"):
        size = 3 * 2**20
        body = json.dumps({"mount": mount, "path": f"{bucket.split('/', 1)[1]}/x.bin",
                           "size": size, "version": "v", "index": 0}).encode()
        status, answer = _request(guarded_daemon.url + "/v1/block", "POST", body, TOKEN)
        texts[f"POST /v1/block on mount {mount} (HTTP {status})"] = answer
    for route in ("/v1/stats", "/metrics", "/", "/v1/describe", "/v1/shuffles",
                  "/v1/overlay?mount=wrong&prefix=", "/v1/blocks/zz"):
        status, answer = _request(guarded_daemon.url + route, token=TOKEN)
        texts[f"GET {route} (HTTP {status})"] = answer
    texts["a wrong token's answer"] = _request(guarded_daemon.url + "/v1/stats",
                                               token="x" * 20)[1]
    guarded_daemon.terminate()
    texts["the daemon's log"] = guarded_daemon.log_path.read_bytes()
    for where, text in texts.items():
        _assert_no_secret(text.decode(errors="replace"), _secrets(seaweed), where)


def test_no_key_or_token_in_a_bad_configurations_error(seaweed, tmp_path):
    options = seaweed.storage_options()
    bad_configs = {
        "short token": {"server": {"token": TOKEN[:12]}},
        "unknown mount key": {"mounts": {"m": {"url": "s3://b", "options": options,
                                               "secret": options["secret"]}}},
        "bad url": {"mounts": {"m": {"url": options["secret"], "options": options}}},
        "public host": {"server": {"host": "0.0.0.0", "token": [TOKEN]}},
    }
    for name, sections in bad_configs.items():
        sections = {"server": {"port": 1}, "mounts": {"m": {"url": "s3://b",
                                                            "options": options}}} | sections
        path = tmp_path / "bad.toml"
        path.write_text(render_config(sections))
        run = subprocess.run([sys.executable, "-m", "tierfs", "daemon", "--config", str(path)],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode != 0, name
        _assert_no_secret(run.stdout + run.stderr, _secrets(seaweed) + [TOKEN[:12]], name)


def test_no_key_in_the_librarys_errors_or_logs(seaweed, bucket, s3, caplog):
    s3.pipe(f"{bucket}/y.bin", b"payload")
    caplog.set_level(logging.DEBUG, logger="tierfs")
    endpoint = {"endpoint_url": seaweed.endpoint_url, "region_name": "us-east-1"}
    dead = {"endpoint_url": f"http://127.0.0.1:{free_ports(1)[0]}", "region_name": "us-east-1"}
    cases = {
        "wrong secret": {"key": seaweed.access_key, "secret": WRONG_SECRET,
                         "client_kwargs": endpoint},
        "unreachable endpoint": {"key": seaweed.access_key, "secret": seaweed.secret_key,
                                 "client_kwargs": dead, "config_kwargs": {
                                     "connect_timeout": 1, "retries": {"max_attempts": 1}}},
    }
    for name, options in cases.items():
        fs = fsspec.filesystem("tierfs", target_protocol="s3", target_options=options,
                               tiers=[{"medium": "memory", "capacity": "8MiB"}],
                               skip_instance_cache=True)
        with pytest.raises(Exception) as raised:  # noqa: B017 - any error, but no secret in it
            fs.cat_file(f"{bucket}/y.bin")
        text = "".join(traceback.format_exception(raised.value)) + repr(raised.value)
        _assert_no_secret(text, [seaweed.secret_key, WRONG_SECRET], f"{name}: the error")
    _assert_no_secret(caplog.text, [seaweed.secret_key, WRONG_SECRET], "the library's log")


def _routes(daemon: DaemonProcess, tmp_path) -> list[tuple[str, str]]:
    """Every (method, path) the daemon's app serves, from ``create_app`` itself."""
    config = dataclasses.replace(load_config(daemon.config_path),
                                 tiers=(TierSpec("memory", 2**20),), writeback=None)
    app = create_app(config)
    try:
        found = set()
        for route in app.router.routes():
            path = route.resource.canonical.format(key="ab" * 16, shuffle_id="s1",
                                                   partition="0")
            found.add((route.method, path))
        return sorted(found)
    finally:
        app[NODE].close()


def test_every_route_but_healthz_refuses_a_request_without_the_right_token(guarded_daemon,
                                                                          tmp_path):
    routes = _routes(guarded_daemon, tmp_path)
    assert len(routes) >= 20
    for method, path in routes:
        for token in (None, "x" * 32, TOKEN[:-1]):
            status, _ = _request(guarded_daemon.url + path, method,
                                 b"{}" if method in ("POST", "PUT") else None, token)
            if path in OPEN_ROUTES:
                assert status == 200, (method, path)
            else:
                assert status == 401, (method, path, token and "a wrong token")


def _modes(root) -> dict[str, int]:
    modes = {}
    for directory, _subdirs, files in os.walk(root):
        for name in [directory, *(os.path.join(directory, f) for f in files)]:
            modes[os.path.relpath(name, root.parent)] = stat.S_IMODE(os.lstat(name).st_mode)
    return modes


def _assert_private(roots) -> None:
    loose = {}
    for root in roots:
        assert root.exists(), root
        for name, mode in _modes(root).items():
            if mode & 0o077:
                loose[name] = oct(mode)
    assert not loose, f"readable by others: {loose}"


def test_tier_buffer_and_shuffle_files_are_private_to_their_user(seaweed, bucket, s3, tmp_path):
    previous = os.umask(0o022)  # the usual umask: tierfs must not rely on a stricter one
    try:
        s3.pipe(f"{bucket}/z.bin", os.urandom(2 * 2**20))
        fs = fsspec.filesystem(
            "tierfs", target_protocol="s3", target_options=seaweed.storage_options(),
            tiers=[{"medium": "memory", "capacity": "8MiB"},
                   {"medium": "ssd", "path": str(tmp_path / "ssd"), "capacity": "64MiB"}],
            block_size=2**20, write_mode="back", buffer_dir=str(tmp_path / "wb"),
            skip_instance_cache=True)
        assert fs.cat_file(f"{bucket}/z.bin") == s3.cat_file(f"{bucket}/z.bin")
        fs.pipe_file(f"{bucket}/w.bin", b"written back")
        fs.wait_flushed(30)
        fs.cache_stats()
        service = tierfs.shuffle.open_service(f"local://{tmp_path / 'shuffle'}")
        shuffle = service.create("job", num_partitions=2)
        with shuffle.map_writer(0) as writer:
            writer.write(1, b"shuffled")
            writer.commit()
        store = ShuffleStore(ShuffleSettings(str(tmp_path / "daemon-shuffle")))
        store.create("job", 2)
        _assert_private([tmp_path / "ssd", tmp_path / "wb", tmp_path / "shuffle",
                         tmp_path / "daemon-shuffle"])
    finally:
        os.umask(previous)


def test_a_request_body_nested_too_deeply_is_a_clean_400(guarded_daemon):
    deep = b"[" * 20_000 + b"]" * 20_000  # within the 64 KiB body limit
    for route in ("/v1/block", "/v1/shuffle/deep/commit", "/v1/hits"):
        status, body = _request(guarded_daemon.url + route, "POST", deep, TOKEN)
        assert status == 400, (route, status, body[:200])
    assert _request(guarded_daemon.url + "/healthz")[0] == 200
