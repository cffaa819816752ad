"""S3 through obstore (Rust's object_store): s3fs options translated, ranged GETs, PUTs.

Shared by the cache's cold fetcher and the shuffle's object storage; s3fs stays the
filesystem for everything else. Errors are s3fs's; an option with no equivalent is named
(never its value, which may be a credential) so the caller can keep s3fs instead.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading

import obstore
from fsspec.asyn import get_loop, sync
from obstore.exceptions import BaseError, PermissionDeniedError, UnauthenticatedError
from obstore.store import S3Store

# s3fs options that shape only s3fs's own work (its file cache, listings, uploads, loop)
_S3FS_ONLY = frozenset({
    "default_block_size", "default_fill_cache", "default_cache_type", "cache_regions",
    "use_listings_cache", "listings_expiry_time", "max_paths", "skip_instance_cache",
    "asynchronous", "loop", "max_concurrency", "fixed_upload_size",
})
_TRANSLATED = frozenset({"key", "username", "secret", "password", "token", "anon",
                         "endpoint_url", "region", "client_kwargs"})
# options whose default (false, empty) changes nothing; any other value has no equivalent
_ONLY_DEFAULT = {"requester_pays": False, "version_aware": False, "config_kwargs": {},
                 "s3_additional_kwargs": {}, "session": None, "profile": None,
                 "use_ssl": True}
_CLIENT_KWARGS = frozenset({"endpoint_url", "region_name", "aws_access_key_id",
                            "aws_secret_access_key", "aws_session_token"})
_STATUS = re.compile(r"status code: (\d{3}[^:<]*)")


class UntranslatableOption(ValueError):
    """An s3fs option with no obstore equivalent; its text is the option's name, never its
    value (values may be credentials)."""


def translate_s3_options(options: dict) -> tuple[dict, dict]:
    """obstore ``S3Store`` config and client options that reach what s3fs ``options`` reach."""
    client_kwargs = options.get("client_kwargs") or {}
    for name in sorted(set(client_kwargs) - _CLIENT_KWARGS):
        raise UntranslatableOption(f"client_kwargs.{name}")
    for name, value in options.items():
        if name in _S3FS_ONLY or name in _TRANSLATED:
            continue
        if name not in _ONLY_DEFAULT or value != _ONLY_DEFAULT[name]:
            raise UntranslatableOption(name)
    config: dict = {}
    client: dict = {}
    endpoint = (options.get("endpoint_url") or client_kwargs.get("endpoint_url")
                or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))
    if endpoint:
        # custom servers are addressed by path (an IP or a single host name has no buckets
        # as subdomains), as botocore does for them
        config |= {"endpoint": endpoint, "virtual_hosted_style_request": False}
        client["allow_http"] = endpoint.startswith("http://")
    region = (client_kwargs.get("region_name") or options.get("region")
              or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    if not region and not endpoint:
        raise UntranslatableOption("region (s3fs finds each bucket's region)")
    config["region"] = region or "us-east-1"
    config |= _credentials(options, client_kwargs)
    return config, client


def _credentials(options: dict, client_kwargs: dict) -> dict:
    if options.get("anon"):
        return {"skip_signature": True}
    key = (options.get("key") or options.get("username")
           or client_kwargs.get("aws_access_key_id"))
    secret = (options.get("secret") or options.get("password")
              or client_kwargs.get("aws_secret_access_key"))
    token = options.get("token") or client_kwargs.get("aws_session_token")
    if key and secret:
        return {"access_key_id": key, "secret_access_key": secret} | (
            {"session_token": token} if token else {})
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        return {}  # obstore reads the same environment variables botocore does
    raise UntranslatableOption("credentials (botocore's chain: profiles, SSO)")


# tokio's threads do not survive fork(): once obstore ran in a process, a call in its
# forked child hangs. The pid of the process whose calls started the runtime:
_runtime_pid: int | None = None


def obstore_usable() -> bool:
    """Whether obstore may run in this process (not a fork of one where it ran)."""
    return _runtime_pid is None or _runtime_pid == os.getpid()


def _mark_runtime_started() -> None:
    global _runtime_pid
    if _runtime_pid is None:
        _runtime_pid = os.getpid()


class ObstoreS3:
    """Ranged GETs and PUTs of ``bucket/key`` paths with obstore, one store per bucket (and
    process).

    ``_cat_file`` is shaped as the async target ``RangeFetcher`` drives (coroutines on
    fsspec's IO loop), so bounding, length checks and counters stay in one place. Errors
    are s3fs's: ``FileNotFoundError``, ``PermissionError``, or a range past the object's
    end answered with no bytes (``RangeFetcher`` then raises ``ObjectChangedError``)."""

    async_impl = True

    def __init__(self, split_path, config: dict, client_options: dict):
        self._split_path = split_path  # the s3fs target's: "bucket/key" -> bucket, key, version
        self._config = config
        self._client_options = client_options
        self._lock = threading.Lock()
        self._stores: dict[str, S3Store] = {}
        self._pid = os.getpid()

    @property
    def loop(self):
        return get_loop()

    def store(self, bucket: str) -> S3Store:
        with self._lock:
            if self._pid != os.getpid():  # a store's connections belong to its process
                self._stores, self._pid = {}, os.getpid()
            store = self._stores.get(bucket)
            if store is None:
                store = self._stores[bucket] = S3Store(
                    bucket, config=self._config, client_options=self._client_options)
            return store

    async def _cat_file(self, path: str, start: int, end: int):
        bucket, key, _ = self._split_path(path)
        if end <= start:
            return b""
        _mark_runtime_started()
        try:
            return await obstore.get_range_async(self.store(bucket), key, start=start, end=end)
        except FileNotFoundError:
            raise FileNotFoundError(path) from None
        except BaseError as error:
            if _status(error).startswith("416"):
                return b""  # the object is shorter than its known size: it changed
            raise _os_error(path, "GET", error) from None

    def cat_ranges(self, paths: list[str], starts: list[int], ends: list[int],
                   concurrency: int) -> list:
        """Each range's bytes (obstore buffers) or the exception it met, ``concurrency``
        requests at a time."""
        return sync(self.loop, self._cat_ranges, paths, starts, ends, concurrency)

    async def _cat_ranges(self, paths, starts, ends, concurrency: int) -> list:
        gate = asyncio.Semaphore(concurrency)

        async def one(path: str, start: int, end: int):
            async with gate:
                return await self._cat_file(path, start, end)

        return await asyncio.gather(*map(one, paths, starts, ends), return_exceptions=True)

    def put(self, path: str, data, part_size: int, concurrency: int) -> None:
        """Store ``data`` (a buffer, or an iterable of buffers read as it goes) at ``path``
        atomically; past ``part_size`` bytes, as a multipart upload of that part size with
        ``concurrency`` parts in flight."""
        bucket, key, _ = self._split_path(path)
        _mark_runtime_started()
        try:
            obstore.put(self.store(bucket), key, data, chunk_size=part_size,
                        max_concurrency=concurrency)
        except BaseError as error:
            raise _os_error(path, "PUT", error) from None


def _status(error: BaseError) -> str:
    found = _STATUS.search(str(error))
    return found.group(1).strip() if found else type(error).__name__


def _os_error(path: str, request: str, error: BaseError) -> OSError:
    if isinstance(error, PermissionDeniedError | UnauthenticatedError):
        return PermissionError(f"{path}: access denied")
    return OSError(f"{path}: {request} failed ({_status(error)})")
