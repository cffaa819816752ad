"""The wire protocol between clients (and peers) and the cache daemon, in one place.

The daemon is reached over HTTP on TCP or a unix socket. Blocks are addressed the way
the cache addresses them, by (mount, path, object size, object version, block index),
so a client computes the same block key as the daemon and can read the daemon's tier
files directly (short-circuit) when it runs on the same host.
"""

from __future__ import annotations

from dataclasses import dataclass

from tierfs.writeback.overlay import DELETED, BufferedFile, OverlayEntry, Redirect

DESCRIBE = "/v1/describe"
BLOCK = "/v1/block"
BLOCK_RANGE = "/v1/blocks/{key}"  # GET with Range: a cached block by key (404: not cached)
STATS = "/v1/stats"
HEALTH = "/healthz"
METRICS = "/metrics"

FILE = "/v1/file"  # PUT: write through the daemon's write-back buffer; GET: a buffered file
REMOVE = "/v1/rm"
MOVE = "/v1/mv"
OVERLAY = "/v1/overlay"
FLUSH = "/v1/flush"
HITS = "/v1/hits"  # short-circuit hits, so the daemon's eviction sees them

SHUFFLES = "/v1/shuffles"  # GET: every shuffle the daemon holds
SHUFFLE = "/v1/shuffle/{shuffle_id}"  # POST create, GET describe, DELETE
SHUFFLE_PUSH = SHUFFLE + "/push"  # POST: shuffle blocks (frames), merged per partition
SHUFFLE_COMMIT = SHUFFLE + "/commit"  # POST: a map's commit record; answers the winner's
SHUFFLE_COMMITS = SHUFFLE + "/commits"  # GET: every committed map's record
SHUFFLE_PARTITION = SHUFFLE + "/partition/{partition}"  # GET: the merged partition stream
MAX_SHUFFLE_PUSH = 256 * 2**20  # bytes in one push request

SERVED_BY = "X-Tierfs-Served-By"  # "cache", "peer" or "under-store"
TOKEN_ENV = "TIERFS_DAEMON_TOKEN"
DAEMON_ENV = "TIERFS_DAEMON"
NODE_ID_FILE = "tierfs-node-id"  # in each tier directory: proves a client sees the same disk


@dataclass(frozen=True)
class BlockAddress:
    """Block ``index`` of one object version, optionally only bytes ``[start, end)`` of it."""

    mount: str
    path: str
    size: int
    version: str
    index: int
    start: int = 0
    end: int | None = None  # None: to the end of the block

    def to_json(self, from_peer: bool = False) -> dict:
        return {"mount": self.mount, "path": self.path, "size": self.size,
                "version": self.version, "index": self.index, "start": self.start,
                "end": self.end, "from_peer": from_peer}

    @classmethod
    def from_json(cls, payload: object) -> tuple[BlockAddress, bool]:
        """Parse a request body; ``ValueError`` says which field is wrong."""
        if not isinstance(payload, dict):
            raise ValueError("body: expected a JSON object")
        fields = {"mount": str, "path": str, "size": int, "version": str, "index": int}
        for name, kind in fields.items():
            value = payload.get(name)
            if isinstance(value, bool) or not isinstance(value, kind):
                raise ValueError(f"{name}: expected {kind.__name__}, got {value!r}")
        start, end = payload.get("start", 0), payload.get("end")
        for name, value in (("start", start), ("end", end)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{name}: expected an integer, got {value!r}")
        if payload["size"] < 0 or payload["index"] < 0 or start is None or start < 0:
            raise ValueError("size, index and start must not be negative")
        if end is not None and end < start:
            raise ValueError("end: must not be before start")
        from_peer = payload.get("from_peer", False)
        if not isinstance(from_peer, bool):
            raise ValueError(f"from_peer: expected a boolean, got {from_peer!r}")
        address = cls(**{name: payload[name] for name in fields}, start=start, end=end)
        return address, from_peer


def encode_overlay(entries: dict[str, OverlayEntry]) -> dict[str, dict]:
    """The write-back overlay as JSON: what a client must see before uploads land."""
    encoded = {}
    for path, entry in entries.items():
        if entry is DELETED:
            encoded[path] = {"kind": "deleted"}
        elif isinstance(entry, Redirect):
            encoded[path] = {"kind": "redirect", "target_path": entry.target_path}
        else:
            encoded[path] = {"kind": "file", "local_path": entry.local_path,
                             "size": entry.size, "mtime": entry.mtime}
    return encoded


def decode_overlay(encoded: dict[str, dict]) -> dict[str, OverlayEntry]:
    decoded: dict[str, OverlayEntry] = {}
    for path, entry in encoded.items():
        if entry["kind"] == "deleted":
            decoded[path] = DELETED
        elif entry["kind"] == "redirect":
            decoded[path] = Redirect(entry["target_path"])
        else:
            decoded[path] = BufferedFile(entry["local_path"], entry["size"], entry["mtime"])
    return decoded
