"""How map outputs move to and from an fsspec store: through obstore where it is S3.

A map output is written once, whole, and read as byte ranges. On S3, obstore moves both
outside the GIL and signs and sends the output from one buffer, where s3fs's writer copies
it twice and hashes it in Python threads; any other store, an s3fs option obstore cannot
express, or a process forked after obstore ran in it keeps the filesystem's own calls.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from s3fs import S3FileSystem

from tierfs.s3_obstore import ObstoreS3, UntranslatableOption, obstore_usable, translate_s3_options

logger = logging.getLogger(__name__)

# up to this size an output is joined into one buffer, whose parts go up concurrently;
# beyond, it is streamed part by part, so a spilled output is never whole in memory
_JOINED_UP_TO = 64 * 2**20
_PART_SIZE = 8 * 2**20
_PUT_CONCURRENCY = 4
_GET_CONCURRENCY = 16


class FsspecTransfers:
    """The filesystem's own writer and ``cat_ranges``."""

    def __init__(self, fs):
        self.fs = fs

    def put(self, path: str, parts: Iterable, size: int) -> None:
        with self.fs.open(path, "wb") as file:
            for part in parts:
                file.write(part)

    def cat_ranges(self, paths: list[str], starts: list[int], ends: list[int]) -> list:
        """Each range's bytes or the exception it met."""
        return self.fs.cat_ranges(paths, starts, ends, on_error="return")


class ObstoreTransfers:
    """obstore's uploads (in concurrent parts, streamed for a large output) and concurrent
    ranged GETs; the filesystem's own calls in a fork after obstore ran."""

    def __init__(self, s3: ObstoreS3, fallback: FsspecTransfers):
        self.s3, self._fallback = s3, fallback

    def put(self, path: str, parts: Iterable, size: int) -> None:
        if not obstore_usable():
            return self._fallback.put(path, parts, size)
        if size <= _JOINED_UP_TO:
            data = b"".join(parts)
        else:
            data = (memoryview(part).cast("B") for part in parts)
        self.s3.put(path, data, _PART_SIZE, _PUT_CONCURRENCY)

    def cat_ranges(self, paths: list[str], starts: list[int], ends: list[int]) -> list:
        if not obstore_usable():
            return self._fallback.cat_ranges(paths, starts, ends)
        return self.s3.cat_ranges(paths, starts, ends, _GET_CONCURRENCY)


def transfers_for(fs) -> FsspecTransfers | ObstoreTransfers:
    """obstore's transfers for an s3fs filesystem whose options it can express, else the
    filesystem's own (an untranslatable option is logged, by name only)."""
    own = FsspecTransfers(fs)
    if not isinstance(fs, S3FileSystem):
        return own
    try:
        config, client_options = translate_s3_options(fs.storage_options)
    except UntranslatableOption as error:
        logger.info("tierfs shuffle: map outputs through s3fs: obstore has no equivalent of "
                    "option %s", error)
        return own
    # every shuffle block carries its xxh3, checked by its reader: SigV4's SHA-256 of each
    # payload would add a second pass over every byte in the mapper (AWS SDKs skip it over
    # HTTPS the same way)
    config["unsigned_payload"] = True
    return ObstoreTransfers(ObstoreS3(fs.split_path, config, client_options), own)
