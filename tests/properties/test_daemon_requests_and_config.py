"""The daemon's request bodies and its TOML configuration: any input is accepted as a
well-typed value or refused with ``ValueError`` naming what is wrong."""

from __future__ import annotations

import tempfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.properties.strategies import json_values, modest
from tierfs.daemon_client.protocol import BlockAddress
from tierfs.sizes import parse_size
from tierfs_server.config import DaemonConfig, load_config, parse_config
from tierfs_server.launcher import render_config

counts = st.integers(0, 2**63)


@st.composite
def addresses(draw) -> BlockAddress:
    start = draw(counts)
    return BlockAddress(draw(st.text()), draw(st.text()), draw(counts), draw(st.text()),
                        draw(counts), start, draw(st.none() | st.integers(start, 2**64)))


@modest
@given(address=addresses(), from_peer=st.booleans())
def test_a_block_address_round_trips(address, from_peer):
    assert BlockAddress.from_json(address.to_json(from_peer)) == (address, from_peer)


@modest
@given(body=json_values() | addresses().flatmap(
    lambda address: st.fixed_dictionaries({}, optional={k: json_values(3) for k in (
        "mount", "path", "size", "version", "index", "start", "end", "from_peer")}).map(
        lambda changes: address.to_json() | changes)))
def test_any_block_request_body_parses_or_raises_value_error(body):
    try:
        address, from_peer = BlockAddress.from_json(body)
    except ValueError:
        return
    assert isinstance(from_peer, bool) and 0 <= address.start
    assert address.end is None or address.start <= address.end


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """Where generated configurations may create tier directories (pathless tiers included)."""
    root = tmp_path_factory.mktemp("configs")
    (root / "short-token").write_text("short\n")
    (root / "token").write_text("a-token-of-at-least-16-chars\n")
    saved, tempfile.tempdir = tempfile.tempdir, str(root / "tmp")
    (root / "tmp").mkdir()
    yield root
    tempfile.tempdir = saved


def _config_values(root):
    """Values a config key may take: plausible ones, in the sandbox, and any other."""
    plausible = st.sampled_from([
        "127.0.0.1", "0.0.0.0", "localhost", "::1", 7480, 0, 65536, -1, True, 2.5, "64KiB",
        "4MiB", "1e3", "9" * 400 + "GiB", "ssd", "memory", "disk", "lru", "wait", "s3://b",
        f"{root}/tier-a", f"{root}/tier-b", f"{root}/token", f"{root}/short-token",
        f"{root}/missing", str(root), [1000], ["http://10.0.0.5:7480"], {"key": "x"}])
    tiers = st.lists(st.fixed_dictionaries({}, optional={
        key: plausible | json_values(2) for key in ("medium", "capacity", "path", "eviction")}),
        max_size=3)
    return plausible, tiers


def _table(keys, values):
    return st.dictionaries(st.sampled_from(keys) | st.text(max_size=8), values, max_size=5)


@st.composite
def raw_configs(draw, root) -> dict:
    plausible, tiers = _config_values(root)
    values = plausible | json_values(3)
    sections = {
        "server": _table(["host", "port", "token", "token_file", "tls_cert", "tls_key",
                          "max_request_bytes", "metadata_ttl", "workers", "unix_socket",
                          "fd_socket", "allowed_uids", "allowed_gids"], values),
        "cache": st.fixed_dictionaries({}, optional={"block_size": values,
                                                     "tiers": tiers | values}),
        "mounts": st.dictionaries(st.text(max_size=8), _table(["url", "options"], values)
                                  | values, max_size=2),
        "peers": _table(["self", "members", "dns", "timeout", "down_seconds"], values),
        "writeback": _table(["dir", "capacity", "when_full"], values),
        "shuffle": _table(["dir", "capacity", "retention"], values),
    }
    raw = draw(st.fixed_dictionaries({}, optional=sections))
    return raw | draw(st.dictionaries(st.text(max_size=8), values, max_size=1))


def test_any_config_table_is_a_config_or_raises_value_error(sandbox):
    @modest
    @given(raw=raw_configs(sandbox))
    def check(raw):
        try:
            config = parse_config(raw)
        except ValueError:
            return
        assert isinstance(config, DaemonConfig) and config.mounts

    check()


_KEYS = [("server", key) for key in ("host", "port", "token", "token_file", "tls_cert",
                                     "tls_key", "max_request_bytes", "metadata_ttl", "workers",
                                     "unix_socket", "fd_socket", "allowed_uids",
                                     "allowed_gids")] + [
    ("cache", "block_size"), ("cache", "tiers"), ("mounts", "data"), ("peers", "self"),
    ("peers", "members"), ("peers", "timeout"), ("peers", "down_seconds"),
    ("writeback", "dir"), ("writeback", "capacity"), ("writeback", "when_full"),
    ("shuffle", "dir"), ("shuffle", "capacity"), ("shuffle", "retention")]


def test_a_valid_config_with_any_one_value_changed_is_a_config_or_raises(sandbox):
    plausible, tiers = _config_values(sandbox)

    @modest
    @given(where=st.sampled_from(_KEYS), value=plausible | tiers | json_values(3))
    def check(where, value):
        raw = {"server": {"port": 7480}, "mounts": {"data": {"url": "s3://data"}},
               "cache": {"tiers": [{"medium": "memory", "capacity": "1MiB"}]},
               "peers": {}, "writeback": {"dir": str(sandbox)},
               "shuffle": {"dir": str(sandbox)}}
        section, key = where
        raw[section][key] = value
        try:
            parse_config(raw)
        except ValueError:
            pass

    check()


@modest
@given(value=st.text(st.sampled_from("0123456789. kKmMgGiIbBtT"), max_size=40)
       | st.integers(1, 500).map(lambda digits: "9" * digits + "KiB")
       | st.integers(-2**80, 2**80) | json_values(2))
def test_any_size_parses_to_bytes_or_raises_value_error(value):
    try:
        size = parse_size(value, "a.size")
    except ValueError as error:
        assert "a.size" in str(error)
        return
    assert isinstance(size, int) and size >= 0


@modest
@given(text=st.text(max_size=400) | st.binary(max_size=400)
       | st.integers(1, 5000).map(lambda depth: "a = " + "[" * depth))
def test_any_config_file_is_a_config_or_raises_value_error(tmp_path_factory, text):
    path = tmp_path_factory.getbasetemp() / "fuzzed.toml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    try:
        load_config(path)
    except ValueError:
        pass


def test_a_config_file_round_trips(sandbox):
    @modest
    @given(port=st.integers(0, 65535), block=st.integers(1, 2**30), capacity=counts,
           token=st.none() | st.text(st.characters(codec="ascii", exclude_categories=["Cc"]),
                                     min_size=16, max_size=40))
    def check(port, block, capacity, token):
        server = {"port": port} | ({} if token is None else {"token": token})
        path = sandbox / "round-trip.toml"
        path.write_text(render_config({
            "server": server,
            "cache": {"block_size": block, "tiers": [
                {"medium": "ssd", "path": str(sandbox / "tier-a"), "capacity": capacity}]},
            "mounts": {"data": {"url": "s3://data", "options": {"anon": True}}}}))
        config = load_config(path)
        assert (config.port, config.block_size, config.token) == (port, block, token)
        assert (config.tiers[0].capacity, config.mounts[0].options) == (capacity, {"anon": True})

    check()
