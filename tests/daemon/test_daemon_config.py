"""A bad configuration stops the daemon at start with a message naming the key."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tierfs_server.config import parse_config
from tierfs_server.launcher import render_config

MOUNTS = {"m": {"url": "s3://bucket", "options": {}}}


@pytest.mark.parametrize(
    ("sections", "key"),
    [
        ({"server": {"host": "0.0.0.0"}, "mounts": MOUNTS}, "server.token"),
        ({"server": {"port": 99999}, "mounts": MOUNTS}, "server.port"),
        ({"server": {"block_port": "7481"}, "mounts": MOUNTS}, "server.block_port"),
        ({"server": {"port": 7480, "block_port": 7480}, "mounts": MOUNTS}, "server.block_port"),
        ({"server": {"block_poll_us": -1}, "mounts": MOUNTS}, "server.block_poll_us"),
        ({"server": {"block_poll_us": "100"}, "mounts": MOUNTS}, "server.block_poll_us"),
        ({"server": {"colour": "red"}, "mounts": MOUNTS}, "server.colour"),
        ({"server": {"token": "short"}, "mounts": MOUNTS}, "server.token"),
        ({"cache": {"tiers": [{"medium": "tape", "capacity": "1GiB"}]}, "mounts": MOUNTS},
         r"tiers\[0\]\.medium"),
        ({"cache": {"block_size": "0"}, "mounts": MOUNTS}, "cache.block_size"),
        ({}, "mounts"),
        ({"mounts": {"m": {"url": "bucket"}}}, "mounts.m.url"),
        ({"peers": {"members": ["http://a:1"]}, "mounts": MOUNTS}, "peers.self"),
        ({"extra": {}, "mounts": MOUNTS}, "unknown section"),
    ],
)
def test_bad_settings_are_named(sections, key, tmp_path):
    with pytest.raises(ValueError, match=key):
        parse_config(sections)


def test_a_non_loopback_address_with_a_token_is_accepted():
    config = parse_config({"server": {"host": "0.0.0.0", "token": "x" * 32}, "mounts": MOUNTS})
    assert config.host == "0.0.0.0" and "x" * 32 not in repr(config)


def test_the_daemon_refuses_to_start_on_a_bad_config(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(render_config({"server": {"host": "0.0.0.0"}, "mounts": MOUNTS}))
    result = subprocess.run([sys.executable, "-m", "tierfs", "daemon", "--config", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "server.token" in result.stderr
