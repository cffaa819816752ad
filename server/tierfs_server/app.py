"""The daemon's HTTP service (aiohttp): routes, authentication, errors, and its lifetime.

Blocking cache work runs in a thread pool (``asyncio.to_thread``, which carries the
request's context, e.g. "do not forward to peers"), so the event loop only moves bytes.
On SIGTERM the sites stop accepting, in-flight requests finish, and the tier index is
flushed; the persistent tiers keep the cache warm for the next start.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import signal
import ssl
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tierfs.cache import ObjectChangedError
from tierfs.daemon_client import protocol
from tierfs.daemon_client.protocol import BlockAddress
from tierfs_server import shuffle_routes, status_page, writeback_routes
from tierfs_server.config import DaemonConfig
from tierfs_server.fetchers import forwarding_allowed
from tierfs_server.metrics import Metrics
from tierfs_server.node import CacheNode

logger = logging.getLogger(__name__)

NODE = web.AppKey("node", CacheNode)
METRICS = web.AppKey("metrics", Metrics)
_OPEN_ROUTES = {protocol.HEALTH}  # liveness probes carry no token


def _bearer_middleware(token: str | None):
    expected = f"Bearer {token}".encode() if token else None

    @web.middleware
    async def authenticate(request: web.Request, handler):
        if expected is not None and request.path not in _OPEN_ROUTES:
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
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
        middlewares=[_bearer_middleware(config.token), _errors_as_statuses],
    )
    app[METRICS] = Metrics()
    app[NODE] = CacheNode(config, app[METRICS].under_store_latency.observe)
    app[METRICS].watch(app[NODE].stats)
    app.router.add_get(protocol.HEALTH, health)
    app.router.add_get(protocol.METRICS, metrics)
    app.router.add_get(protocol.DESCRIBE, describe)
    app.router.add_get(protocol.STATS, stats)
    app.router.add_post(protocol.BLOCK, block)
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


async def serve(config: DaemonConfig, ready: asyncio.Event | None = None) -> None:
    """Run until SIGTERM or SIGINT, then stop gracefully."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(config.workers, thread_name_prefix="tierfs-d"))
    runner = web.AppRunner(create_app(config), shutdown_timeout=30)
    await runner.setup()
    sites = []
    if config.port is not None:
        context = None
        if config.tls_cert:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(config.tls_cert, config.tls_key)
        sites.append(web.TCPSite(runner, config.host, config.port, ssl_context=context))
    if config.unix_socket:
        sites.append(web.UnixSite(runner, config.unix_socket))
    for site in sites:
        await site.start()
        logger.warning("tierfs daemon listening on %s", site.name)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    await stop.wait()
    logger.warning("tierfs daemon stopping: finishing in-flight requests")
    await runner.cleanup()
