"""The daemon's HTTP service (aiohttp): routes, authentication, errors, and its lifetime.

Blocking cache work runs in a thread pool (``asyncio.to_thread``, which carries the
request's context, e.g. "do not forward to peers"), so the event loop only moves bytes.
On SIGTERM the sites stop accepting, in-flight requests finish, and the tier index is
flushed; the persistent tiers keep the cache warm for the next start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import ssl
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tierfs.busy_poll import BusyPoll
from tierfs.cache import ObjectChangedError
from tierfs.daemon_client import protocol
from tierfs.daemon_client.protocol import BlockAddress
from tierfs_server import shuffle_routes, status_page, writeback_routes
from tierfs_server.access import SOCKET_MODE, AccessPolicy, peer_of
from tierfs_server.block_server import BlockServer
from tierfs_server.config import DaemonConfig
from tierfs_server.descriptor_server import DescriptorServer
from tierfs_server.fetchers import forwarding_allowed
from tierfs_server.metrics import Metrics
from tierfs_server.node import CacheNode

logger = logging.getLogger(__name__)

NODE = web.AppKey("node", CacheNode)
METRICS = web.AppKey("metrics", Metrics)
_OPEN_ROUTES = {protocol.HEALTH}  # liveness probes carry no token


def access_policy(config: DaemonConfig) -> AccessPolicy:
    return AccessPolicy(config.token, config.allowed_uids, config.allowed_gids)


def _access_middleware(policy: AccessPolicy):
    """The bearer token on TCP; on the unix socket the token or the peer's credentials."""
    everyone = policy.open_to_all

    @web.middleware
    async def authenticate(request: web.Request, handler):
        if not everyone and request.path not in _OPEN_ROUTES:
            scheme, _, given = request.headers.get("Authorization", "").partition(" ")
            peer = peer_of(request.transport.get_extra_info("socket"))
            if not policy.admits(given if scheme == "Bearer" else None, peer):
                raise web.HTTPUnauthorized(text="missing or wrong bearer token")
        return await handler(request)

    return authenticate


@web.middleware
async def _errors_as_statuses(request: web.Request, handler):
    """Map library errors to HTTP statuses; never echo credentials or stack traces."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except (ValueError, LookupError) as error:
        raise web.HTTPBadRequest(text=str(error)) from None
    except RecursionError:  # a JSON body nested deeper than the parser recurses
        raise web.HTTPBadRequest(text="body: nested too deeply") from None
    except FileNotFoundError as error:
        raise web.HTTPNotFound(text=f"not found: {error.filename or error}") from None
    except ObjectChangedError as error:
        raise web.HTTPConflict(text=str(error)) from None
    except IsADirectoryError as error:
        raise web.HTTPBadRequest(text=str(error)) from None
    except PermissionError:
        raise web.HTTPBadGateway(text="the under store refused access") from None
    except OSError as error:
        logger.warning("under store error on %s: %s", request.path, type(error).__name__)
        raise web.HTTPBadGateway(text=f"under store error: {type(error).__name__}") from None


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def describe(request: web.Request) -> web.Response:
    return web.json_response(request.app[NODE].describe())


async def stats(request: web.Request) -> web.Response:
    return web.json_response(await asyncio.to_thread(request.app[NODE].stats))


async def metrics(request: web.Request) -> web.Response:
    body = await asyncio.to_thread(generate_latest, request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def status(request: web.Request) -> web.Response:
    figures = await asyncio.to_thread(request.app[NODE].stats)
    return web.Response(text=status_page.render(figures), content_type="text/html")


async def block(request: web.Request) -> web.Response:
    try:
        payload = await request.json()
    except json.JSONDecodeError:
        raise web.HTTPBadRequest(text="body: not JSON") from None
    address, from_peer = BlockAddress.from_json(payload)
    if from_peer:
        forwarding_allowed.set(False)
    data, served_by = await asyncio.to_thread(request.app[NODE].read_block, address)
    return web.Response(body=data, content_type="application/octet-stream",
                        headers={protocol.SERVED_BY: served_by})


async def block_range(request: web.Request) -> web.Response:
    """A cached block's bytes by key, or a ``Range`` of them, for clients of the unix socket
    (TCP clients use the data port, ``block_server``, which serves the same ``span``).

    Answered on the event loop, with no thread hop: a verified range of a block file is
    a ``pread`` of page-cached bytes once its chunks were checked, or for large ranges a
    ``sendfile`` from the block file. 404 when the block is not cached; the client then
    fetches it with a ``POST`` to ``/v1/block``."""
    key = request.match_info["key"]
    try:
        wanted = request.http_range
    except ValueError:
        raise web.HTTPBadRequest(text="Range: not a single byte range") from None
    if (wanted.step not in (None, 1) or (wanted.start or 0) < 0
            or (wanted.stop is not None and wanted.stop < (wanted.start or 0))):
        raise web.HTTPBadRequest(text="Range: expected bytes=START-END")
    found = request.app[NODE].local.span(key, wanted.start or 0, wanted.stop)
    if found is None:
        raise web.HTTPNotFound(text="block not cached")
    status = 206 if request.headers.get("Range") else 200
    if isinstance(found, memoryview):
        return web.Response(body=found, status=status, content_type="application/octet-stream")
    fd, offset, count = found
    with open(fd, "rb", buffering=0) as file:
        response = web.StreamResponse(status=status)
        response.content_type = "application/octet-stream"
        response.content_length = count
        await response.prepare(request)
        await asyncio.get_running_loop().sendfile(request.transport, file, offset, count)
        await response.write_eof()
    return response


async def hits(request: web.Request) -> web.Response:
    payload = await request.json()
    reported = payload.get("hits") if isinstance(payload, dict) else None
    if not isinstance(reported, dict):
        raise web.HTTPBadRequest(text="hits: expected {block key: count}")
    counted = await asyncio.to_thread(request.app[NODE].record_hits, reported)
    return web.json_response({"counted": counted})


def _expire_shuffles(retention: float):
    """A background task deleting shuffles idle for longer than ``retention`` seconds."""
    async def run(app: web.Application):
        async def sweep() -> None:
            while True:
                await asyncio.sleep(min(60.0, retention / 4))
                try:
                    await asyncio.to_thread(app[NODE].shuffles.expire)
                except OSError as error:
                    logger.warning("shuffle retention sweep failed: %s", error)

        task = asyncio.create_task(sweep())
        yield
        task.cancel()

    return run


def create_app(config: DaemonConfig) -> web.Application:
    app = web.Application(
        client_max_size=config.max_request_bytes,
        middlewares=[_access_middleware(access_policy(config)), _errors_as_statuses],
    )
    app[METRICS] = Metrics()
    app[NODE] = CacheNode(config, app[METRICS].under_store_latency.observe)
    app[METRICS].watch(app[NODE].stats)
    app.router.add_get(protocol.HEALTH, health)
    app.router.add_get(protocol.METRICS, metrics)
    app.router.add_get(protocol.DESCRIBE, describe)
    app.router.add_get(protocol.STATS, stats)
    app.router.add_post(protocol.BLOCK, block)
    app.router.add_get(protocol.BLOCK_RANGE, block_range)
    app.router.add_post(protocol.HITS, hits)
    app.router.add_get("/", status)
    app.router.add_routes(writeback_routes.routes(NODE))
    app.router.add_routes(shuffle_routes.routes(NODE))
    if config.shuffle is not None and config.shuffle.retention is not None:
        app.cleanup_ctx.append(_expire_shuffles(config.shuffle.retention))

    async def close_node(app: web.Application) -> None:
        await asyncio.to_thread(app[NODE].close)

    app.on_cleanup.append(close_node)
    return app


def _tls_context(config: DaemonConfig) -> ssl.SSLContext | None:
    if not config.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(config.tls_cert, config.tls_key)
    return context


async def serve(config: DaemonConfig, ready: asyncio.Event | None = None) -> None:
    """Run until SIGTERM or SIGINT, then stop gracefully."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(config.workers, thread_name_prefix="tierfs-d"))
    runner = web.AppRunner(create_app(config), shutdown_timeout=30)
    await runner.setup()
    tls = _tls_context(config)
    sites = []
    if config.port is not None:
        sites.append(web.TCPSite(runner, config.host, config.port, ssl_context=tls))
    if config.unix_socket:
        sites.append(web.UnixSite(runner, config.unix_socket))
    for site in sites:
        await site.start()
        logger.warning("tierfs daemon listening on %s", site.name)
    if config.unix_socket:
        os.chmod(config.unix_socket, SOCKET_MODE)  # the daemon decides who (access.py)
    node = runner.app[NODE]
    side_servers = []
    if config.fd_socket:
        descriptors = DescriptorServer(config.fd_socket, node.local, access_policy(config),
                                       node.node_id)
        node.side_servers["descriptors"] = descriptors.stats
        side_servers.append(descriptors)
    if config.port is not None and config.block_port is not None:
        blocks = BlockServer(config.host, config.block_port, node.local, access_policy(config),
                             tls, BusyPoll(config.block_poll_us))
        node.side_servers["block_server"] = blocks.stats
        node.block_port = blocks.port
        side_servers.append(blocks)
    for server in side_servers:
        server.serve_in_thread()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    await stop.wait()
    logger.warning("tierfs daemon stopping: finishing in-flight requests")
    for server in side_servers:
        await asyncio.to_thread(server.close)
    await runner.cleanup()
