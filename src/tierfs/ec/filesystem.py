"""``ecfs``: an fsspec filesystem that stripes files with Reed–Solomon over storage targets.

It composes the pieces of this package: the catalog (manifests: names, sizes, placement),
the stripe writer and the stripe reader. Targets are any fsspec URLs. Being an ordinary
fsspec filesystem, it can sit under ``tierfs`` like any other store.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem

from tierfs.ec.catalog import Catalog
from tierfs.ec.codec import ECPolicy, StripeCodec
from tierfs.ec.manifest import Manifest
from tierfs.ec.reader import StripeReader
from tierfs.ec.targets import DOWN_SECONDS, Target
from tierfs.ec.writer import StripeWriter, remove_fragments
from tierfs.sizes import parse_size

READ_AHEAD_STRIPES = 4


def _target_options(targets: list[str], target_options: dict | list | None) -> list[dict]:
    if target_options is None:
        return [{} for _ in targets]
    if isinstance(target_options, dict):
        return [dict(target_options) for _ in targets]
    if isinstance(target_options, list | tuple) and len(target_options) == len(targets):
        return [dict(options or {}) for options in target_options]
    raise ValueError(
        "target_options: give one dict for every target, or a list with one dict per target "
        f"({len(targets)} targets), got {target_options!r}"
    )


def _check_targets(targets, policy: ECPolicy) -> list[str]:
    if isinstance(targets, str) or not all(isinstance(url, str) for url in targets or []):
        raise ValueError(f"targets: expected a list of fsspec URLs, got {targets!r}")
    urls = [url.rstrip("/") for url in targets]
    if len(set(urls)) != len(urls):
        raise ValueError(f"targets: every target must be distinct, got {targets!r}")
    if len(urls) < policy.width:
        raise ValueError(
            f"targets: RS({policy.k},{policy.m}) needs at least k + m = {policy.width} "
            f"targets, got {len(urls)}"
        )
    return urls


class ECFileSystem(AbstractFileSystem):
    """Erasure-coded store over ``targets`` (fsspec URLs), RS(k, m) with ``cell_size`` cells.

    Every file has k + m fragments on k + m distinct targets, chosen per path by rendezvous
    hashing when there are more targets. Any m targets may be lost, or hold corrupt cells,
    without losing a byte.
    """

    protocol = "ecfs"
    root_marker = ""

    def __init__(self, targets: list[str], target_options: dict | list | None = None,
                 k: int = 4, m: int = 2, cell_size: int | str = 2**20,
                 backend: str | None = None, max_workers: int | None = None,
                 down_seconds: float = DOWN_SECONDS, **kwargs):
        super().__init__(**kwargs)
        self.policy = ECPolicy(k, m, parse_size(cell_size, "cell_size"))
        urls = _check_targets(targets, self.policy)
        self.codec = StripeCodec(self.policy, backend)
        self._codecs = {(k, m, self.policy.cell_size, self.codec.backend): self.codec}
        self._pool = ThreadPoolExecutor(max_workers or 4 * self.policy.width,
                                        thread_name_prefix="ecfs")
        self.targets = [
            Target(url, options, down_seconds)
            for url, options in zip(urls, _target_options(urls, target_options), strict=True)
        ]
        self.catalog = Catalog(self.targets, self.policy.width, m, self._pool)

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = str(path)
        if path.startswith("ecfs://"):
            path = path[len("ecfs://"):]
        return path.strip("/")

    def codec_for(self, manifest: Manifest) -> StripeCodec:
        """The codec a file was written with (it may predate this filesystem's policy)."""
        key = (manifest.k, manifest.m, manifest.cell_size, manifest.backend)
        if key not in self._codecs:
            self._codecs[key] = StripeCodec(manifest.policy, manifest.backend)
        return self._codecs[key]

    def manifest(self, path: str) -> Manifest:
        """The current manifest of ``path``; ``FileNotFoundError`` if there is none."""
        path = self._strip_protocol(path)
        manifest = self.catalog.load(path) if path else None
        if manifest is None:
            raise FileNotFoundError(f"ecfs: no such file: {path!r}")
        return manifest

    def reader(self, manifest: Manifest) -> StripeReader:
        return StripeReader(manifest, self.catalog, self.codec_for(manifest), self._pool)

    def writer(self, path: str) -> StripeWriter:
        return StripeWriter(self._strip_protocol(path), self.catalog, self.codec, self._pool)

    # -- namespace ---------------------------------------------------------------------------

    @staticmethod
    def _file_entry(manifest: Manifest) -> dict:
        return {
            "name": manifest.path, "size": manifest.size, "type": "file",
            "created": manifest.created / 1e9, "mtime": manifest.created / 1e9,
            "file_id": manifest.file_id, "policy": f"RS({manifest.k},{manifest.m})",
            "cell_size": manifest.cell_size,
        }

    def info(self, path: str, **kwargs) -> dict:
        path = self._strip_protocol(path)
        if not path:
            return {"name": "", "size": 0, "type": "directory"}
        manifest = self.catalog.load(path)
        if manifest is not None:
            return self._file_entry(manifest)
        if self.catalog.list_dir(path):
            return {"name": path, "size": 0, "type": "directory"}
        raise FileNotFoundError(f"ecfs: no such file or directory: {path!r}")

    def ls(self, path: str, detail: bool = True, **kwargs) -> list:
        path = self._strip_protocol(path)
        children = self.catalog.list_dir(path)
        if not children:
            entries = [self.info(path)] if path else []
            if entries and entries[0]["type"] == "directory":
                entries = []
        else:
            files = sorted(name for name, kind in children.items() if kind == "file")
            manifests = self.catalog.load_many(files)
            entries = [self._file_entry(manifests[name]) for name in files if manifests[name]]
            entries += [{"name": name, "size": 0, "type": "directory"}
                        for name, kind in sorted(children.items()) if kind == "directory"]
        return entries if detail else [entry["name"] for entry in entries]

    def mkdir(self, path: str, create_parents: bool = True, **kwargs) -> None:
        """Directories exist as long as they hold files, as in object stores."""

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        """Directories exist as long as they hold files, as in object stores."""

    def rmdir(self, path: str) -> None:
        """Directories vanish with their last file."""

    # -- data --------------------------------------------------------------------------------

    def cat_file(self, path: str, start: int | None = None, end: int | None = None,
                 **kwargs) -> bytes:
        manifest = self.manifest(path)
        start, end = _clip_range(manifest.size, start, end)
        return self.reader(manifest).read(start, end)

    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs) -> None:
        writer = self.writer(path)
        try:
            writer.write(value)
        except BaseException:
            writer.abort()
            raise
        writer.close()

    def _open(self, path: str, mode: str = "rb", block_size: int | None = None,
              autocommit: bool = True, cache_options: dict | None = None, **kwargs):
        if mode not in ("rb", "wb"):
            raise ValueError(f"ecfs: mode {mode!r} is not supported; use 'rb' or 'wb'")
        return ECFile(self, path, mode, block_size, cache_options=cache_options, **kwargs)

    def rm_file(self, path: str) -> None:
        manifest = self.manifest(path)
        self.catalog.remove(manifest.path)
        remove_fragments(manifest, self.catalog, self._pool)

    def _rm(self, path: str) -> None:
        self.rm_file(path)

    def rm(self, path, recursive: bool = False, maxdepth: int | None = None) -> None:
        names = self.expand_path(path, recursive=recursive, maxdepth=maxdepth)
        files = [name for name in names if self.isfile(name)]
        if not files and not any(self.isdir(name) for name in names):
            raise FileNotFoundError(f"ecfs: no such file or directory: {path!r}")
        for name in files:
            self.rm_file(name)

    def cp_file(self, path1: str, path2: str, **kwargs) -> None:
        """Copy by reading and re-encoding stripe by stripe: the copy gets its own fragments."""
        manifest = self.manifest(path1)
        reader = self.reader(manifest)
        writer = self.writer(path2)
        try:
            step = manifest.policy.stripe_size * READ_AHEAD_STRIPES
            for start in range(0, manifest.size, step):
                writer.write(reader.read(start, start + step))
        except BaseException:
            writer.abort()
            raise
        writer.close()

    def mv(self, path1, path2, recursive: bool = False, maxdepth: int | None = None,
           **kwargs) -> None:
        """Rename by republishing manifests under the new names; fragments stay where they are."""
        source, destination = self._strip_protocol(path1), self._strip_protocol(path2)
        if self.isfile(source):
            self._move_file(source, destination)
            return
        if not self.isdir(source):
            raise FileNotFoundError(f"ecfs: no such file or directory: {source!r}")
        for name in self.find(source, maxdepth=maxdepth):
            self._move_file(name, destination + name[len(source):])

    def _move_file(self, source: str, destination: str) -> None:
        manifest = self.manifest(source)
        previous = self.catalog.load(destination)
        moved = manifest.moved(destination, version=max(manifest.version + 1, time.time_ns()))
        self.catalog.publish(moved)
        self.catalog.remove(source)
        if previous is not None and previous.file_id != manifest.file_id:
            remove_fragments(previous, self.catalog, self._pool)


def _clip_range(size: int, start: int | None, end: int | None) -> tuple[int, int]:
    """fsspec's convention: None means the file's edge, negative counts from the end."""
    start = 0 if start is None else (size + start if start < 0 else start)
    end = size if end is None else (size + end if end < 0 else end)
    return max(0, min(start, size)), max(0, min(end, size))


class ECFile(AbstractBufferedFile):
    """A file of ``ecfs``: reads through a stripe reader pinned to one version, writes stream."""

    def __init__(self, fs: ECFileSystem, path: str, mode: str, block_size: int | None,
                 **kwargs):
        stripe = fs.policy.stripe_size
        self._manifest = None
        self._writer = None
        if mode == "rb":
            self._manifest = fs.manifest(path)
            kwargs["size"] = self._manifest.size
            stripe = self._manifest.policy.stripe_size
            block_size = block_size or stripe * READ_AHEAD_STRIPES
        super().__init__(fs, fs._strip_protocol(path), mode, block_size or stripe, **kwargs)

    def _fetch_range(self, start: int, end: int) -> bytes:
        return self.fs.reader(self._manifest).read(start, end)

    def _initiate_upload(self) -> None:
        self._writer = self.fs.writer(self.path)

    def _upload_chunk(self, final: bool = False) -> bool:
        try:
            self._writer.write(self.buffer.getbuffer())
            if final:
                self._writer.close()
        except BaseException:
            self._writer.abort()
            self.closed = True  # the write is over: closing must not upload again
            raise
        return True

    def discard(self) -> None:
        if self._writer is not None:
            self._writer.abort()
