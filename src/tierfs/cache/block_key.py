"""Block identity: which under store, which object, which version of it, which block.

An object's version (its ETag, else size and mtime) is part of every key, so a changed
object gets new keys and its old blocks are never served; they simply age out.
Keys are hex digests (xxh3-128), safe as file names and checked as such.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

import xxhash

_KEY = re.compile(r"^[0-9a-f]{32}$")
_VERSION_FIELDS = ("ETag", "etag", "e_tag", "VersionId", "version_id", "md5", "checksum")
_MTIME_FIELDS = ("mtime", "LastModified", "last_modified", "modified", "updated", "created")


class ObjectRef(NamedTuple):
    """One version of one object of the under store, as the cache addresses it.

    A tuple, not a dataclass: every read looks up its block key by it, and a tuple hashes
    and compares in C (a frozen dataclass's generated ``__hash__`` is Python code)."""

    store: str  # identifies the under store (protocol and endpoint), see store_identity
    path: str
    size: int
    version: str


def object_version(info: dict) -> str:
    """The version string of an ``info()`` answer: ETag-like fields, else size and mtime."""
    for field in _VERSION_FIELDS:
        value = info.get(field)
        if value:
            return f"{field}={value}"
    mtime = next((info[f] for f in _MTIME_FIELDS if info.get(f) is not None), None)
    return f"size={info.get('size')};mtime={mtime}"


def store_identity(protocol: str, options: dict) -> str:
    """Protocol plus endpoint; credentials are deliberately left out of the identity."""
    client = options.get("client_kwargs") or {}
    endpoint = options.get("endpoint_url") or client.get("endpoint_url") or ""
    host = options.get("host") or ""
    port = options.get("port") or ""
    return f"{protocol}|{endpoint}|{host}|{port}"


@functools.lru_cache(maxsize=2**16)  # hot path: every read asks for its block's key
def block_key(obj: ObjectRef, block_size: int, index: int) -> str:
    material = "\0".join((obj.store, obj.path, obj.version, str(obj.size), str(block_size),
                          str(index)))
    return xxhash.xxh3_128_hexdigest(material.encode())


def is_block_key(key: str) -> bool:
    return bool(_KEY.match(key))
