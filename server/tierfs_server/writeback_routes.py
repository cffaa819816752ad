"""The daemon's write-back routes: clients' writes journaled in the node's buffer.

``PUT /v1/file`` streams a file into the mount's ``WriteBackBuffer`` and answers only
after the buffer acknowledged it (bytes and journal record fsynced); ``/v1/rm`` and
``/v1/mv`` journal deletes and renames in order after earlier writes; ``/v1/overlay``
is what clients must see before uploads land; ``/v1/flush`` waits for the uploads.
Every path is checked against its mount before anything touches a disk.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from tierfs.daemon_client import protocol
from tierfs.writeback import BufferedFile
from tierfs_server.node import CacheNode, MountRuntime
from tierfs_server.paths import checked_path

_CHUNK = 2**20


def _mount(node: CacheNode, name: object) -> MountRuntime:
    mount = node.mounts.get(name) if isinstance(name, str) else None
    if mount is None:
        raise LookupError(f"mount: no mount named {name!r}")
    return mount


def _checked(mount: MountRuntime, path: object) -> str:
    if not isinstance(path, str):
        raise ValueError("path: expected a string")
    return checked_path(mount.root, path)


def routes(node_key: web.AppKey) -> list[web.RouteDef]:
    async def put_file(request: web.Request) -> web.Response:
        node = request.app[node_key]
        mount = _mount(node, request.query.get("mount"))
        path = _checked(mount, request.query.get("path"))
        buffer = mount.writable_buffer()
        writer = await asyncio.to_thread(buffer.open_write, path)
        try:
            async for chunk in request.content.iter_chunked(_CHUNK):
                await asyncio.to_thread(writer.write, chunk)
        except BaseException:
            await asyncio.to_thread(writer.discard)  # never acknowledge half a file
            raise
        size = writer.tell()
        await asyncio.to_thread(writer.close)
        return web.json_response({"path": path, "size": size})

    async def get_file(request: web.Request) -> web.Response:
        node = request.app[node_key]
        mount = _mount(node, request.query.get("mount"))
        path = _checked(mount, request.query.get("path"))
        entry = await asyncio.to_thread(mount.writable_buffer().lookup, path)
        if not isinstance(entry, BufferedFile):
            raise FileNotFoundError(path)
        return web.FileResponse(entry.local_path)

    async def remove(request: web.Request) -> web.Response:
        payload = await request.json()
        mount = _mount(request.app[node_key], payload.get("mount"))
        path = _checked(mount, payload.get("path"))
        await asyncio.to_thread(mount.writable_buffer().rm, path)
        return web.json_response({"removed": path})

    async def move(request: web.Request) -> web.Response:
        payload = await request.json()
        mount = _mount(request.app[node_key], payload.get("mount"))
        src, dst = _checked(mount, payload.get("src")), _checked(mount, payload.get("dst"))
        await asyncio.to_thread(mount.writable_buffer().mv, src, dst)
        return web.json_response({"moved": src, "to": dst})

    async def overlay(request: web.Request) -> web.Response:
        mount = _mount(request.app[node_key], request.query.get("mount"))
        prefix = _checked(mount, request.query.get("prefix"))
        buffer = mount.writable_buffer()
        if request.query.get("exact") == "1":
            entry = await asyncio.to_thread(buffer.lookup, prefix)
            entries = {} if entry is None else {prefix: entry}
        else:
            entries = await asyncio.to_thread(buffer.pending, prefix)
        return web.json_response(protocol.encode_overlay(entries))

    async def flush(request: web.Request) -> web.Response:
        payload = await request.json()
        timeout = payload.get("timeout")
        if timeout is not None and (isinstance(timeout, bool)
                                    or not isinstance(timeout, int | float)):
            raise ValueError("timeout: expected seconds or null")
        buffers = [m.buffer for m in request.app[node_key].mounts.values() if m.buffer]
        flushed = True
        for buffer in buffers:
            flushed &= await asyncio.to_thread(buffer.wait_flushed, timeout)
        return web.json_response({"flushed": flushed})

    return [
        web.put(protocol.FILE, put_file),
        web.get(protocol.FILE, get_file),
        web.post(protocol.REMOVE, remove),
        web.post(protocol.MOVE, move),
        web.get(protocol.OVERLAY, overlay),
        web.post(protocol.FLUSH, flush),
    ]
