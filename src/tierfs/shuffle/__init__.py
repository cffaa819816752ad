"""The pluggable shuffle service: one API, the backend chosen by the URL.

    svc = tierfs.shuffle.open_service("local:///mnt/nvme/shuffle")   # or a plain path
    svc = tierfs.shuffle.open_service("daemon://")          # the node daemon ($TIERFS_DAEMON)
    svc = tierfs.shuffle.open_service("s3://bucket/shuffle", key=..., secret=...)  # any fsspec URL
    sh = svc.create("job-7", num_partitions=200)
    with sh.map_writer(map_id=3, attempt=0) as w:
        w.write(17, arrow_table); record = w.commit()
    table = sh.reader(17, map_ids=range(num_maps)).read_table()
"""

from __future__ import annotations

import os

from tierfs.shuffle.errors import (
    CorruptShuffleBlockError,
    MissingMapOutputError,
    ShuffleCommitError,
    ShuffleError,
    ShuffleNotFoundError,
)
from tierfs.shuffle.reader import PartitionReader
from tierfs.shuffle.records import CommitRecord
from tierfs.shuffle.service import (
    MapWriter,
    Shuffle,
    ShuffleOptions,
    ShuffleService,
    ShuffleSummary,
)

__all__ = [
    "CommitRecord", "CorruptShuffleBlockError", "MapWriter", "MissingMapOutputError",
    "PartitionReader", "Shuffle", "ShuffleCommitError", "ShuffleError", "ShuffleNotFoundError",
    "ShuffleOptions", "ShuffleService", "ShuffleSummary", "open_service",
]


def open_service(url: str, **options) -> ShuffleService:
    """The service at ``url``: ``local://DIR`` or a path, ``daemon://`` (``$TIERFS_DAEMON``),
    ``daemon+http://host:port`` / ``daemon+unix:///socket``, or any fsspec URL.

    Options: ``compression``, ``block_size``, ``buffer_size``, ``spill_dir`` (see
    ``ShuffleOptions``); for the daemon ``token``; the rest go to the fsspec filesystem.
    """
    if not isinstance(url, str) or not url:
        raise ValueError(f"shuffle URL: expected a string such as 'local:///tmp/shuffle', "
                         f"got {url!r}")
    shuffle_options = ShuffleOptions.take(options)
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme in ("", "local"):
        from tierfs.shuffle.file_service import FileShuffleService
        from tierfs.shuffle.storage import LocalStorage

        if options:
            raise ValueError(f"{sorted(options)[0]}: unknown option of the local shuffle")
        root = url.split("://", 1)[1] if scheme else url
        if not root:
            raise ValueError(f"shuffle URL {url!r}: give a directory, e.g. local:///tmp/shuffle")
        return FileShuffleService(LocalStorage(os.path.expanduser(root)), shuffle_options)
    if scheme == "daemon" or scheme.startswith("daemon+"):
        from tierfs.shuffle.daemon import DaemonShuffleService

        return DaemonShuffleService(url, shuffle_options, **options)
    return _store_service(url, scheme, shuffle_options, options)


def _store_service(url: str, scheme: str, shuffle_options: ShuffleOptions,
                   options: dict) -> ShuffleService:
    import fsspec

    from tierfs.shuffle.file_service import FileShuffleService
    from tierfs.shuffle.storage import FsspecStorage

    for protocol in scheme.split("::"):
        try:
            fsspec.get_filesystem_class(protocol)
        except (ValueError, ImportError) as error:
            raise ValueError(f"shuffle URL {url!r}: unknown scheme {protocol!r} ({error}); use "
                             "local://DIR, daemon:// or an fsspec URL such as s3://bucket/prefix"
                             ) from None
    return FileShuffleService(FsspecStorage(url, options), shuffle_options)
