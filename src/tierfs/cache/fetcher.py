"""Fetching byte ranges from the under store, many at once.

Async filesystems (s3fs, …) get all ranges as concurrent coroutines on their own event
loop, bounded by a semaphore; others get a thread pool. Every request names its range,
even one covering a whole small file: the size is already known, and s3fs would
otherwise send a HEAD first to learn it. A small file costs one GET.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from fsspec.asyn import sync

from tierfs.cache.block_key import ObjectRef
from tierfs.cache.stats import CacheCounters


@dataclass(frozen=True, slots=True)
class BlockRequest:
    """Block ``index`` of ``obj``, which spans bytes ``[start, end)`` of the object."""

    obj: ObjectRef
    index: int
    start: int
    end: int

    @property
    def path(self) -> str:
        return self.obj.path


class ObjectChangedError(OSError):
    """The under store returned a different length than the object's known size."""


class Fetcher(Protocol):
    """Where missing blocks come from: the under store, or the node's daemon."""

    def fetch(self, requests: list[BlockRequest]) -> list[bytes]: ...


class RangeFetcher:
    def __init__(self, target, concurrency: int, counters: CacheCounters):
        self.target = target
        self.counters = counters
        self.concurrency = concurrency
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = os.getpid()

    def fetch(self, requests: list[BlockRequest]) -> list[bytes]:
        if not requests:
            return []
        if getattr(self.target, "async_impl", False) and getattr(self.target, "loop", None):
            results = sync(self.target.loop, self._fetch_async, requests)
        else:
            results = list(self._thread_pool().map(self._fetch_one, requests))
        for request, data in zip(requests, results, strict=True):
            if len(data) != request.end - request.start:
                raise ObjectChangedError(
                    f"{request.path}: expected {request.end - request.start} bytes at "
                    f"{request.start}, got {len(data)}; the object changed while being read"
                )
        self.counters.add("under_store_requests", len(results))
        self.counters.add("under_store_bytes", sum(map(len, results)))
        return results

    async def _fetch_async(self, requests: list[BlockRequest]) -> list[bytes]:
        gate = asyncio.Semaphore(self.concurrency)

        async def one(request: BlockRequest) -> bytes:
            async with gate:
                return await self.target._cat_file(request.path, start=request.start,
                                                   end=request.end)

        return await asyncio.gather(*(one(request) for request in requests))

    def _fetch_one(self, request: BlockRequest) -> bytes:
        return self.target.cat_file(request.path, start=request.start, end=request.end)

    def _thread_pool(self) -> ThreadPoolExecutor:
        if self._pool is None or self._pool_pid != os.getpid():  # threads do not survive fork
            self._pool_pid = os.getpid()
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="tierfs-fetch")
        return self._pool
