"""A remote object store's latency and per-connection bandwidth, in front of a local one.

Loopback SeaweedFS answers in a millisecond at gigabytes per second; a real object store
answers a GET after tens of milliseconds and caps each connection (S3: roughly 50-100 MB/s),
which is what concurrent ranged fetching is for. This TCP proxy adds both to every
connection: each request waits ``latency`` before it is forwarded, and each direction of
each connection is paced to ``rate`` bytes/s. It models the network only: no errors, no
limit across connections, no server-side queueing.
"""

from __future__ import annotations

import asyncio
import threading
from contextlib import ExitStack
from dataclasses import dataclass
from urllib.parse import urlsplit

_CHUNK = 256 * 2**10  # bytes forwarded per read: large enough to keep the proxy's CPU low


@dataclass(frozen=True)
class ModelParameters:
    latency: float = 0.030  # seconds added before each request's first byte
    rate: float = 80e6  # bytes per second, per connection and direction

    def describe(self) -> str:
        return (f"remote-store model: +{self.latency * 1e3:g} ms before each request, "
                f"{self.rate / 1e6:g} MB/s per connection")


class _Pacer:
    """Holds each chunk until a link of ``rate`` bytes/s would have carried it."""

    def __init__(self, rate: float):
        self.rate = rate
        self._free_at = 0.0

    async def wait(self, nbytes: int) -> None:
        now = asyncio.get_running_loop().time()
        self._free_at = max(now, self._free_at) + nbytes / self.rate
        await asyncio.sleep(self._free_at - now)


class RemoteStoreModel:
    """``with RemoteStoreModel("http://127.0.0.1:8333") as endpoint:`` — ``endpoint`` is the
    proxy's URL, served by an event loop on a thread of its own until the block ends.

    A request starts with the first bytes a client sends on a connection, or the first
    it sends after the server began answering its previous request (HTTP/1.1 keep-alive)."""

    def __init__(self, upstream: str, parameters: ModelParameters = ModelParameters()):
        url = urlsplit(upstream)
        if url.scheme != "http" or not url.port:
            raise ValueError(f"upstream: expected http://host:port, got {upstream!r}")
        if parameters.latency < 0 or parameters.rate <= 0:
            raise ValueError(f"parameters: latency >= 0 and rate > 0, got {parameters}")
        self.upstream = (url.hostname, url.port)
        self.parameters = parameters
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="remote-store-model")
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task] = set()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> str:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop).result()
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        async def close() -> None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    async def _serve(self, client_in: asyncio.StreamReader,
                     client_out: asyncio.StreamWriter) -> None:
        self._connections.add(asyncio.current_task())
        try:
            server_in, server_out = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_out.close()
            self._connections.discard(asyncio.current_task())
            return
        answered = asyncio.Event()
        answered.set()  # the first bytes of a connection start a request
        forward = [
            asyncio.ensure_future(self._pump(client_in, server_out, answered, requests=True)),
            asyncio.ensure_future(self._pump(server_in, client_out, answered, requests=False)),
        ]
        try:
            await asyncio.wait(forward, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            pass  # the model stops: end quietly (asyncio logs a connection task cancelled)
        finally:
            for task in forward:
                task.cancel()
            await asyncio.gather(*forward, return_exceptions=True)
            for writer in (client_out, server_out):
                writer.close()
            self._connections.discard(asyncio.current_task())

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter,
                    answered: asyncio.Event, *, requests: bool) -> None:
        """Copy one direction of a connection, paced; requests wait ``latency`` first."""
        pacer = _Pacer(self.parameters.rate)
        while data := await source.read(_CHUNK):
            if requests and answered.is_set():
                answered.clear()
                await asyncio.sleep(self.parameters.latency)
            elif not requests:
                answered.set()
            await pacer.wait(len(data))
            sink.write(data)
            await sink.drain()


def through_model(storage_options: dict, parameters: ModelParameters,
                  stack: ExitStack) -> dict:
    """s3fs ``storage_options`` whose requests cross a new model of ``parameters`` in front
    of their endpoint; ``stack`` stops the model."""
    client_kwargs = storage_options["client_kwargs"]
    endpoint = stack.enter_context(RemoteStoreModel(client_kwargs["endpoint_url"], parameters))
    return storage_options | {"client_kwargs": client_kwargs | {"endpoint_url": endpoint}}
