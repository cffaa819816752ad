"""A client of the cache daemon: describe it, fetch blocks, read its stats.

It runs aiohttp on fsspec's IO event loop (the one s3fs uses), so synchronous callers
get concurrency without threads of their own. Connection failures, time-outs and a
daemon that went away all become ``DaemonUnavailable``; HTTP errors map to the
Python errors fsspec users expect (404 → FileNotFoundError, 409 → ObjectChangedError).
"""

from __future__ import annotations

import asyncio
import os
import ssl
import weakref
from collections.abc import Iterator
from urllib.parse import urlsplit

import aiohttp
from fsspec.asyn import get_loop, sync

from tierfs.cache import ObjectChangedError
from tierfs.daemon_client import protocol
from tierfs.daemon_client.protocol import BlockAddress


class DaemonUnavailable(ConnectionError):
    """The daemon could not be reached or stopped answering."""


class DaemonClient:
    def __init__(self, address: str, token: str | None = None, *,
                 connect_timeout: float = 2.0, timeout: float = 120.0,
                 cafile: str | None = None):
        """``address`` is ``http(s)://host:port`` or the path of a unix socket."""
        self.address = address
        self._token = token if token is not None else os.environ.get(protocol.TOKEN_ENV)
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout)
        self._cafile = cafile
        if address.startswith(("http://", "https://")):
            parts = urlsplit(address)
            self._base, self._socket = f"{parts.scheme}://{parts.netloc}", None
        else:
            self._base, self._socket = "http://tierfs-daemon", address
        self._session: aiohttp.ClientSession | None = None
        self._pid = os.getpid()

    def __repr__(self) -> str:  # never shows the token
        return f"DaemonClient({self.address!r})"

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return get_loop()

    async def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed or self._pid != os.getpid():
            self._pid = os.getpid()
            if self._socket:
                connector = aiohttp.UnixConnector(path=self._socket)
            else:
                context = ssl.create_default_context(cafile=self._cafile) if self._cafile else None
                connector = aiohttp.TCPConnector(limit=64, ssl=context)
            headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout,
                                                  headers=headers)
            weakref.finalize(self, _close_session, self.loop, self._session)
        return self._session

    async def _request(self, method: str, route: str, **kwargs) -> tuple[bytes, dict]:
        session = await self._get_session()
        try:
            async with session.request(method, self._base + route, **kwargs) as response:
                body = await response.read()
                if response.status >= 400:
                    raise _http_error(response.status, body, route)
                return body, dict(response.headers)
        except (TimeoutError, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as error:
            raise DaemonUnavailable(f"tierfs daemon at {self.address} unavailable: "
                                    f"{type(error).__name__}: {error}") from error

    async def _open_stream(self, route: str) -> aiohttp.ClientResponse:
        session = await self._get_session()
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._timeout.sock_connect,
                                        sock_read=self._timeout.total)
        try:
            response = await session.get(self._base + route, timeout=timeout)
            if response.status >= 400:
                body = await response.read()
                response.release()
                raise _http_error(response.status, body, route)
            return response
        except (TimeoutError, aiohttp.ClientConnectionError) as error:
            raise DaemonUnavailable(f"tierfs daemon at {self.address} unavailable: "
                                    f"{type(error).__name__}: {error}") from error

    def iter_download(self, route: str, chunk: int = 4 * 2**20) -> Iterator[bytes]:
        """A long response body in chunks of about ``chunk`` bytes, streamed, not held."""
        response = sync(self.loop, self._open_stream, route)
        try:
            while data := sync(self.loop, _read_up_to, response.content, chunk):
                yield data
        except (TimeoutError, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as error:
            raise DaemonUnavailable(f"tierfs daemon at {self.address} stopped answering "
                                    f"{route}: {type(error).__name__}") from error
        finally:
            self.loop.call_soon_threadsafe(response.release)

    def call(self, method: str, route: str, **kwargs) -> dict:
        """One request whose answer is JSON (``params=``, ``json=`` or ``data=`` as aiohttp)."""
        body, _ = sync(self.loop, self._request, method, route, **kwargs)
        return _json(body)

    def describe(self) -> dict:
        return self.call("GET", protocol.DESCRIBE)

    def stats(self) -> dict:
        return self.call("GET", protocol.STATS)

    def download(self, route: str, params: dict) -> bytes:
        body, _ = sync(self.loop, self._request, "GET", route, params=params)
        return body

    def fetch_blocks(self, addresses: list[BlockAddress], from_peer: bool = False
                     ) -> list[tuple[bytes, str]]:
        """The bytes of each block and who served it, fetched concurrently."""
        return sync(self.loop, self.fetch_blocks_async, addresses, from_peer)

    async def fetch_blocks_async(self, addresses: list[BlockAddress], from_peer: bool = False
                                 ) -> list[tuple[bytes, str]]:
        async def one(address: BlockAddress) -> tuple[bytes, str]:
            body, headers = await self._request("POST", protocol.BLOCK,
                                                json=address.to_json(from_peer))
            return body, headers.get(protocol.SERVED_BY, "")

        return list(await asyncio.gather(*(one(a) for a in addresses)))

    def close(self) -> None:
        if self._session is not None and not self._session.closed and self._pid == os.getpid():
            sync(self.loop, self._session.close)


def _close_session(loop: asyncio.AbstractEventLoop, session: aiohttp.ClientSession) -> None:
    """At garbage collection or exit: close politely if the loop runs, else drop sockets."""
    if session.closed:
        return
    if loop.is_running() and not loop.is_closed():
        try:
            sync(loop, session.close, timeout=1)
            return
        except Exception:  # noqa: BLE001 - shutting down: fall through to the hard close
            pass
    if session.connector is not None:
        session.connector._close()


async def _read_up_to(stream: aiohttp.StreamReader, size: int) -> bytes:
    """Up to ``size`` bytes, fewer only at the end of the body (one hop per large chunk)."""
    parts, have = [], 0
    while have < size:
        part = await stream.read(size - have)
        if not part:
            break
        parts.append(part)
        have += len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _json(body: bytes) -> dict:
    import json

    return json.loads(body)


def _http_error(status: int, body: bytes, route: str) -> Exception:
    message = body[:500].decode("utf-8", "replace")
    if status == 404:
        return FileNotFoundError(message)
    if status == 409:
        return ObjectChangedError(message)
    if status in (401, 403):
        return PermissionError(f"tierfs daemon refused {route}: {message}")
    if status == 400:
        return ValueError(f"tierfs daemon rejected {route}: {message}")
    return OSError(f"tierfs daemon error {status} on {route}: {message}")
