"""The daemon's shuffle routes: create, push, commit, list commits, stream a partition, delete.

Pushes are read up to ``MAX_SHUFFLE_PUSH`` bytes and verified frame by frame before a
byte is appended; a partition is streamed from its merged file up to the length it had
when the request arrived, so a reader never sees half a block.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from tierfs.daemon_client import protocol
from tierfs.shuffle.errors import CorruptShuffleBlockError
from tierfs_server.node import CacheNode
from tierfs_server.shuffle_store import ShuffleCapacityError, ShuffleStore


def routes(node_key: web.AppKey[CacheNode]) -> list[web.RouteDef]:
    def store(request: web.Request) -> ShuffleStore:
        shuffles = request.app[node_key].shuffles
        if shuffles is None:
            raise LookupError("shuffle: this daemon has no [shuffle] section")
        return shuffles

    def handled(handler):
        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request, store(request), request.match_info["shuffle_id"])
            except CorruptShuffleBlockError as error:
                raise web.HTTPBadRequest(text=str(error)) from None
            except ShuffleCapacityError as error:
                raise web.HTTPInsufficientStorage(text=str(error)) from None
        return guarded

    async def list_shuffles(request: web.Request) -> web.Response:
        summaries = await asyncio.to_thread(store(request).files.list)
        return web.json_response([s.__dict__ for s in summaries])

    async def create(request, shuffles: ShuffleStore, shuffle_id: str) -> web.Response:
        payload = await request.json()
        count = payload.get("num_partitions") if isinstance(payload, dict) else None
        shuffle = await asyncio.to_thread(shuffles.create, shuffle_id, count)
        return web.json_response({"num_partitions": shuffle.num_partitions})

    async def describe(request, shuffles: ShuffleStore, shuffle_id: str) -> web.Response:
        shuffle = await asyncio.to_thread(shuffles.get, shuffle_id)
        return web.json_response({"num_partitions": shuffle.num_partitions})

    async def delete(request, shuffles: ShuffleStore, shuffle_id: str) -> web.Response:
        await asyncio.to_thread(shuffles.delete, shuffle_id)
        return web.json_response({"deleted": shuffle_id})

    async def push(request, shuffles: ShuffleStore, shuffle_id: str) -> web.Response:
        length = request.content_length
        if length is None or length > protocol.MAX_SHUFFLE_PUSH:
            raise web.HTTPRequestEntityTooLarge(max_size=protocol.MAX_SHUFFLE_PUSH,
                                                actual_size=length or 0)
        body = bytearray(length)
        received = 0
        async for chunk in request.content.iter_any():  # no re-joining of small reads
            body[received:received + len(chunk)] = chunk
            received += len(chunk)
        if received != length:
            raise ValueError(f"push: body ended after {received} of {length} bytes")
        blocks = await asyncio.to_thread(shuffles.push, shuffle_id, body)
        return web.json_response({"blocks": blocks})

    async def commit(request, shuffles: ShuffleStore, shuffle_id: str) -> web.Response:
        record, won = await asyncio.to_thread(shuffles.commit, shuffle_id, await request.read())
        return web.json_response({"record": json.loads(record.to_json()), "won": won})

    async def commits(request, shuffles: ShuffleStore, shuffle_id: str) -> web.Response:
        records = await asyncio.to_thread(lambda: shuffles.get(shuffle_id).committed())
        return web.json_response([json.loads(r.to_json()) for r in records])

    async def partition(request, shuffles: ShuffleStore, shuffle_id: str) -> web.StreamResponse:
        try:
            index = int(request.match_info["partition"])
        except ValueError:
            raise ValueError("partition: expected an integer") from None
        path, size = await asyncio.to_thread(shuffles.partition_file, shuffle_id, index)
        shuffles.served(size)
        if not size:
            return web.Response(body=b"", content_type="application/octet-stream")
        # sendfile of the length the file had at a block boundary, not of what it has now
        at_boundary = request.clone(headers={**request.headers, "Range": f"bytes=0-{size - 1}"})
        response = web.FileResponse(path)
        await response.prepare(at_boundary)
        return response

    return [
        web.get(protocol.SHUFFLES, list_shuffles),
        web.post(protocol.SHUFFLE, handled(create)),
        web.get(protocol.SHUFFLE, handled(describe)),
        web.delete(protocol.SHUFFLE, handled(delete)),
        web.post(protocol.SHUFFLE_PUSH, handled(push)),
        web.post(protocol.SHUFFLE_COMMIT, handled(commit)),
        web.get(protocol.SHUFFLE_COMMITS, handled(commits)),
        web.get(protocol.SHUFFLE_PARTITION, handled(partition)),
    ]
