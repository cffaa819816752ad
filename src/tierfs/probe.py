"""Learning an S3 object's version and its first block in one request.

Opening a file needs its size and version (a HEAD) before the first read (a GET): for the
many small files of a data loader, two round trips per file where one does. The answer
to ``GET`` with ``Range: bytes=0-{block_size - 1}`` carries the object's total size (in
``Content-Range``) and its ETag, and with them the object's first block, which is all of
a small object. The block goes into the cache, so every byte is still fetched once; what
a reader that never touches the first block pays is that block's transfer instead of a
HEAD's round trip (fsspec's ``cache_type="first"`` makes the same bet).

Only s3fs targets are probed (others answer ``info``), and a probe that fails for any
reason (a missing key, a directory, the 416 an empty object answers) falls back to the
target's own ``info``, so callers see exactly the errors and answers they would without it.
``OpeningInfo`` decides, per open, whether a probe pays.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from fsspec.asyn import sync

from tierfs.cache import CacheCounters
from tierfs.cached_store import CachedStore, forget_listings


@dataclass(frozen=True)
class Probe:
    info: dict  # as the target's ``info`` gives it: the same ETag, so the same block keys
    first_block: bytes | None  # bytes [0, min(size, block_size)) of the object


def can_probe(target) -> bool:
    try:
        from s3fs import S3FileSystem
    except ImportError:  # s3fs is optional: nothing to probe without it
        return False
    return isinstance(target, S3FileSystem) and not target.version_aware


class Prober:
    """The probes of one filesystem: one at a time per path, shared by concurrent opens
    of it (eight threads opening one cold file send one request, not eight).

    ``take_first_block(path, probe)`` runs once per probe that brought a block, before
    anyone sharing the probe gets the answer, so none of them fetches that block again.
    It runs on the target's event loop and must not block. The table of running probes
    is only touched on that loop, so it needs no lock."""

    def __init__(self, target, block_size: int,
                 take_first_block: Callable[[str, Probe], None]):
        self.target = target
        self.block_size = block_size
        self._take_first_block = take_first_block
        self._running: dict[str, asyncio.Future] = {}

    async def probe(self, path: str) -> Probe:
        running = self._running.get(path)
        if running is None or running.get_loop() is not asyncio.get_running_loop():
            # none running on this loop (an entry from another loop predates a fork)
            running = asyncio.ensure_future(self._probe_and_take(path))
            self._running[path] = running
            running.add_done_callback(lambda done: self._running.pop(path, None)
                                      if self._running.get(path) is done else None)
        return await asyncio.shield(running)

    async def _probe_and_take(self, path: str) -> Probe:
        answer = await probe(self.target, path, self.block_size)
        if answer.first_block is not None:
            self._take_first_block(path, answer)
        return answer


class OpeningInfo:
    """``info`` of the paths a read is about to open, asked concurrently of an async target.

    Only paths the metadata cache cannot answer are asked; failures are left out, so the
    caller asks again and raises the real error for that path. On S3 each question is a
    probe that also brings the object's first block (all of a small object) into the
    cache: opening and reading a small file is then one request. Not with
    ``metadata_ttl=0``, where every open asks again and would fetch that block every time,
    nor for a client of the daemon, which fetches every block for the node, nor where the
    block of the last known version is cached (a HEAD revalidates it for less).
    """

    def __init__(self, cached: CachedStore, counters: CacheCounters, block_size: int,
                 daemon_client: bool):
        self._cached = cached
        self._counters = counters
        self._may_probe = (cached.metadata.ttl != 0 and not daemon_client
                           and can_probe(cached.target))
        self._prober = Prober(cached.target, block_size, self._take_first_block)

    def ask(self, paths: list[str]) -> dict[str, dict]:
        """The answers found for ``paths`` (those with a write pending are not passed)."""
        target, metadata = self._cached.target, self._cached.metadata
        missing = sorted({p for p in paths if metadata.peek(p) is None})
        probing = {p for p in missing if self._may_probe and not self._first_block_cached(p)}
        if not missing or not (probing or len(missing) > 1 and target.async_impl):
            return {}

        async def ask(path: str) -> Probe:
            if path in probing:
                return await self._prober.probe(path)
            return Probe(await target._info(path), None)

        async def ask_all():
            return await asyncio.gather(*map(ask, missing), return_exceptions=True)

        for path in missing:
            forget_listings(target, path)
        since = metadata.generation
        answers = sync(target.loop, ask_all)
        found = {}
        for path, answer in zip(missing, answers, strict=True):
            if isinstance(answer, Probe):
                found[path] = answer.info
                metadata.remember_info(path, answer.info, since)
        return found

    def _take_first_block(self, path: str, probed: Probe) -> None:
        """A probe's block: counted as fetched, offered to the cache (on the event loop)."""
        self._counters.add("under_store_requests")
        self._counters.add("under_store_bytes", len(probed.first_block))
        self._cached.source.offer(self._cached.ref(path, probed.info), probed.first_block)

    def _first_block_cached(self, path: str) -> bool:
        """Whether block 0 of the last version seen of ``path`` is in a tier."""
        info = self._cached.metadata.last_known(path)
        if info is None or info.get("type") == "directory":
            return False
        return self._cached.source.contains(self._cached.ref(path, info), 0)


async def probe(target, path: str, block_size: int) -> Probe:
    """``info`` of ``path`` and its first block of ``block_size`` bytes."""
    try:
        return await _ranged_get(target, path, block_size)
    except Exception:  # noqa: BLE001 - the HEAD below raises the error a caller should see
        return Probe(await target._info(path), None)


async def _ranged_get(target, path: str, block_size: int) -> Probe:
    bucket, key, _ = target.split_path(path)
    if not key:
        raise IsADirectoryError(path)
    response = await target._call_s3("get_object", target.kwargs, Bucket=bucket, Key=key,
                                     Range=f"bytes=0-{block_size - 1}")
    body = response["Body"]
    try:
        size = _total_size(response)
        if not response.get("ContentRange") and size > block_size:
            raise OSError(f"{path}: the server ignored the range")  # do not read it whole
        first_block = await body.read()
    finally:
        body.close()
    if len(first_block) != min(size, block_size):
        raise OSError(f"{path}: probe returned {len(first_block)} bytes of a {size}-byte "
                      f"object")
    info = {
        "ETag": response.get("ETag", ""),
        "LastModified": response.get("LastModified", ""),
        "size": size,
        "name": f"{bucket}/{key}",
        "type": "file",
        "StorageClass": response.get("StorageClass", "STANDARD"),
        "VersionId": response.get("VersionId"),
        "ContentType": response.get("ContentType"),
    }
    return Probe(info, first_block)


def _total_size(response: dict) -> int:
    """The object's size: after the slash of ``Content-Range``, else (a server that sent
    the whole object) its ``Content-Length``."""
    content_range = response.get("ContentRange") or ""
    _, slash, total = content_range.rpartition("/")
    if slash and total.isdigit():
        return int(total)
    if content_range:
        raise OSError(f"unusable Content-Range {content_range!r}")
    return int(response["ContentLength"])
