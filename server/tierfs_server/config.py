"""The daemon's TOML configuration, validated at start: a bad key stops it with its name.

    [server]                      # all optional
    host = "127.0.0.1"            # any non-loopback address requires a token
    port = 7480
    block_port = 7481             # the data port (cached block ranges); default 0: any free
                                  # port, announced in /v1/describe; false: none
    block_poll_us = 100           # data port and its clients poll this long for the next
                                  # message before sleeping (busy_poll.py); 0: never
    unix_socket = "/run/tierfs/daemon.sock"
    fd_socket = "/run/tierfs/fd.sock"  # hands out block file descriptors (SCM_RIGHTS)
    allowed_uids = [1000]         # unix-socket peers admitted without the token; with no
    allowed_gids = [1000]         # token and no lists, every local user (see access.py)
    token_file = "/etc/tierfs/token"   # or token = "..."
    tls_cert = "..."              # with tls_key: serve HTTPS
    tls_key = "..."
    max_request_bytes = "64KiB"
    metadata_ttl = 2.0            # seconds a client's object version is trusted unchecked

    [cache]
    block_size = "4MiB"
    tiers = [{medium = "memory", capacity = "2GiB"},
             {medium = "ssd", path = "/mnt/nvme/tierfs", capacity = "200GiB"}]

    [mounts.datasets]             # one table per under store
    url = "s3://datasets"
    options = {key = "...", secret = "...", client_kwargs = {endpoint_url = "http://..."}}

    [writeback]                   # optional: write_mode="back" clients write through the daemon
    dir = "/mnt/nvme/tierfs-wb"   # one journaled buffer per mount below it
    capacity = "50GiB"
    when_full = "wait"            # or "through", "fail"

    [shuffle]                     # optional: push-based shuffle, merged per partition
    dir = "/mnt/nvme/tierfs-shuffle"
    capacity = "100GiB"           # pushes beyond it are refused (HTTP 507)
    retention = 86400             # seconds: idle shuffles are deleted after it

    [peers]                       # optional: daemons of other nodes
    self = "http://10.0.0.5:7480"
    members = ["http://10.0.0.5:7480", "http://10.0.0.6:7480"]   # or dns = "tierfs:7480"
    timeout = 0.5
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from tierfs.cache import DEFAULTS, TierSpec, parse_tiers
from tierfs.sizes import parse_size
from tierfs_server.shuffle_store import ShuffleSettings

_SECTIONS = {"server", "cache", "mounts", "peers", "writeback", "shuffle"}
_SERVER_KEYS = {"host", "port", "unix_socket", "token", "token_file", "tls_cert", "tls_key",
                "max_request_bytes", "metadata_ttl", "workers", "fd_socket", "allowed_uids",
                "allowed_gids", "block_port", "block_poll_us"}
_PEER_KEYS = {"self", "members", "dns", "timeout", "down_seconds"}


@dataclass(frozen=True)
class Mount:
    name: str
    url: str
    options: dict


@dataclass(frozen=True)
class PeerConfig:
    self_url: str | None = None
    members: tuple[str, ...] = ()
    dns: str | None = None
    timeout: float = 0.5
    down_seconds: float = 10.0


@dataclass(frozen=True)
class WriteBackConfig:
    directory: str
    capacity: int | None
    when_full: str = "wait"


@dataclass(frozen=True)
class DaemonConfig:
    host: str = "127.0.0.1"
    port: int | None = 7480
    block_port: int | None = 0
    block_poll_us: int = 100
    unix_socket: str | None = None
    fd_socket: str | None = None
    allowed_uids: frozenset[int] = frozenset()
    allowed_gids: frozenset[int] = frozenset()
    token: str | None = field(default=None, repr=False)
    tls_cert: str | None = None
    tls_key: str | None = None
    max_request_bytes: int = 64 * 2**10
    metadata_ttl: float = 2.0
    workers: int = 16
    block_size: int = DEFAULTS["block_size"]
    tiers: tuple[TierSpec, ...] = ()
    mounts: tuple[Mount, ...] = ()
    peers: PeerConfig = PeerConfig()
    writeback: WriteBackConfig | None = None
    shuffle: ShuffleSettings | None = None


def load_config(path: str | os.PathLike) -> DaemonConfig:
    try:
        with open(path, "rb") as file:
            raw = tomllib.load(file)
    except FileNotFoundError:
        raise ValueError(f"--config: {path} does not exist") from None
    except (tomllib.TOMLDecodeError, RecursionError) as error:  # too deep is not TOML to us
        raise ValueError(f"--config: {path} is not valid TOML: {error}") from None
    return parse_config(raw)


def parse_config(raw: dict) -> DaemonConfig:
    unknown = set(raw) - _SECTIONS
    if unknown:
        raise ValueError(f"unknown section(s) {sorted(unknown)}; expected {sorted(_SECTIONS)}")
    server = _table(raw, "server", _SERVER_KEYS)
    cache = _table(raw, "cache", {"block_size", "tiers"})
    host = server.get("host", "127.0.0.1")
    port = _port(server.get("port", 7480), "server.port")
    block_port = server.get("block_port", 0)
    block_port = None if block_port is False else _port(block_port, "server.block_port")
    if block_port and block_port == port:
        raise ValueError(f"server.block_port: {block_port} is server.port too")
    token = _token(server)
    if not _is_loopback(host) and not token:
        raise ValueError(f"server.token: listening on {host} (not loopback) requires a token "
                         "(server.token or server.token_file)")
    if bool(server.get("tls_cert")) != bool(server.get("tls_key")):
        raise ValueError("server.tls_cert and server.tls_key: give both or neither")
    tiers = parse_tiers(cache.get("tiers"))
    return DaemonConfig(
        host=host,
        port=port,
        block_port=block_port,
        block_poll_us=_poll_budget(server.get("block_poll_us", 100)),
        unix_socket=server.get("unix_socket"),
        fd_socket=_fd_socket(server),
        allowed_uids=_ids(server.get("allowed_uids", []), "server.allowed_uids"),
        allowed_gids=_ids(server.get("allowed_gids", []), "server.allowed_gids"),
        token=token,
        tls_cert=server.get("tls_cert"),
        tls_key=server.get("tls_key"),
        max_request_bytes=parse_size(server.get("max_request_bytes", "64KiB"),
                                     "server.max_request_bytes"),
        metadata_ttl=_number(server.get("metadata_ttl", 2.0), "server.metadata_ttl"),
        workers=_count(server.get("workers", 16), "server.workers"),
        block_size=_block_size(cache.get("block_size", DEFAULTS["block_size"])),
        tiers=tuple(tiers),
        mounts=_mounts(raw.get("mounts", {})),
        peers=_peers(_table(raw, "peers", _PEER_KEYS)),
        writeback=_writeback(_table(raw, "writeback", {"dir", "capacity", "when_full"})),
        shuffle=_shuffle(_table(raw, "shuffle", {"dir", "capacity", "retention"})),
    )


def _table(raw: dict, name: str, keys: set[str]) -> dict:
    table = raw.get(name, {})
    if not isinstance(table, dict):
        raise ValueError(f"{name}: expected a table")
    unknown = set(table) - keys
    if unknown:
        raise ValueError(f"{name}.{sorted(unknown)[0]}: unknown key; expected {sorted(keys)}")
    return table


def _port(value, name: str) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or not 0 <= value < 65536):
        raise ValueError(f"{name}: expected 0..65535, got {value!r}")
    return value


def _token(server: dict) -> str | None:
    if "token_file" in server:
        if not isinstance(server["token_file"], str):
            raise ValueError("server.token_file: expected the path of a file")
        try:
            token = Path(server["token_file"]).read_text().strip()
        except OSError as error:
            raise ValueError(f"server.token_file: cannot read it ({error.strerror})") from None
    else:
        token = server.get("token")
    if token is not None and (not isinstance(token, str) or len(token) < 16):
        raise ValueError("server.token: must be a string of at least 16 characters")
    return token


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    return float(value)


def _count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
    return value


def _poll_budget(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10_000:
        raise ValueError(f"server.block_poll_us: expected microseconds 0..10000, got {value!r}")
    return value


def _fd_socket(server: dict) -> str | None:
    path = server.get("fd_socket")
    if path is not None and (not isinstance(path, str) or not path
                             or path == server.get("unix_socket")):
        raise ValueError("server.fd_socket: expected the path of a socket of its own "
                         "(not server.unix_socket)")
    return path


def _ids(value, name: str) -> frozenset[int]:
    if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        raise ValueError(f"{name}: expected a list of numeric ids, got {value!r}")
    return frozenset(value)


def _block_size(value) -> int:
    size = parse_size(value, "cache.block_size")
    if size <= 0:
        raise ValueError(f"cache.block_size: must be positive, got {value!r}")
    return size


def _mounts(table: dict) -> tuple[Mount, ...]:
    if not isinstance(table, dict) or not table:
        raise ValueError("mounts: at least one [mounts.NAME] table with a url is required")
    mounts = []
    for name, mount in table.items():
        if not isinstance(mount, dict):
            raise ValueError(f"mounts.{name}: expected a table")
        unknown = set(mount) - {"url", "options"}
        if unknown:
            raise ValueError(f"mounts.{name}.{sorted(unknown)[0]}: unknown key")
        url = mount.get("url")
        if not isinstance(url, str) or "://" not in url:
            raise ValueError(f"mounts.{name}.url: expected a URL such as 's3://bucket'")
        options = mount.get("options", {})
        if not isinstance(options, dict):
            raise ValueError(f"mounts.{name}.options: expected a table")
        mounts.append(Mount(name, url, options))
    return tuple(mounts)


def _writeback(table: dict) -> WriteBackConfig | None:
    if not table:
        return None
    directory = table.get("dir")
    if not isinstance(directory, str) or not directory:
        raise ValueError("writeback.dir: required, a local directory (an SSD) for the buffer")
    capacity = table.get("capacity")
    when_full = table.get("when_full", "wait")
    if when_full not in ("wait", "through", "fail"):
        raise ValueError(f"writeback.when_full: {when_full!r} is not one of wait, through, fail")
    return WriteBackConfig(
        directory, None if capacity is None else parse_size(capacity, "writeback.capacity"),
        when_full)


def _shuffle(table: dict) -> ShuffleSettings | None:
    if not table:
        return None
    directory = table.get("dir")
    if not isinstance(directory, str) or not directory:
        raise ValueError("shuffle.dir: required, a local directory for merged partition files")
    capacity = table.get("capacity")
    retention = table.get("retention")
    if retention is not None and _number(retention, "shuffle.retention") <= 0:
        raise ValueError(f"shuffle.retention: must be positive seconds, got {retention!r}")
    return ShuffleSettings(
        directory, None if capacity is None else parse_size(capacity, "shuffle.capacity"),
        None if retention is None else float(retention))


def _peers(table: dict) -> PeerConfig:
    members = table.get("members", [])
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        raise ValueError("peers.members: expected a list of daemon URLs")
    if (members or table.get("dns")) and not table.get("self"):
        raise ValueError("peers.self: required with peers.members or peers.dns "
                         "(this daemon's own URL as its peers reach it)")
    return PeerConfig(
        self_url=table.get("self"),
        members=tuple(members),
        dns=table.get("dns"),
        timeout=_number(table.get("timeout", 0.5), "peers.timeout"),
        down_seconds=_number(table.get("down_seconds", 10.0), "peers.down_seconds"),
    )
