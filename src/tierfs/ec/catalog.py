"""Where manifests live and how they are found, published, listed and removed.

The catalog is the store's namespace: a logical file exists exactly when a good manifest
copy exists on one of its targets. Copies go to the top k + m targets of the path by
rendezvous hashing; reads ask all of them at once and keep the newest good copy.
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor

from tierfs.ec.errors import ECWriteError, ManifestUnavailableError
from tierfs.ec.manifest import Manifest, ManifestCorruptError
from tierfs.ec.placement import choose_targets
from tierfs.ec.targets import Target, call_on_targets, is_missing

logger = logging.getLogger(__name__)


class Catalog:
    def __init__(self, targets: list[Target], width: int, m: int, pool: Executor):
        self.targets = targets
        self.by_url = {target.url: target for target in targets}
        self.width = width
        self.m = m
        self.pool = pool

    def placement(self, path: str) -> list[Target]:
        """The targets of ``path``: its manifest copies, and fragment i of a new write on i."""
        urls = choose_targets(list(self.by_url), path, self.width)
        return [self.by_url[url] for url in urls]

    def load(self, path: str) -> Manifest | None:
        """The newest good manifest of ``path``; None if it does not exist.

        Raises ``ManifestUnavailableError`` when no copy was found and more than m of the
        path's targets could not answer, since the file may then exist unseen.
        """
        return self.load_many([path])[path]

    def _read_copies(self, paths: list[str], ask_down: bool = True):
        """(path, target, manifest or None, problem or None) for every copy of every path.

        Without ``ask_down``, targets marked down are reported unreachable unasked.
        """
        requests = []
        for path in paths:
            for target in self.placement(path):
                if ask_down or not target.is_down:
                    requests.append((path, target))
                else:
                    yield path, target, None, "unreachable: marked down"
        for (path, target), data, error in call_on_targets(self.pool, _read_copy, requests):
            if error is not None:
                if is_missing(error):
                    yield path, target, None, "missing"
                else:
                    target.mark_down(error)
                    yield path, target, None, f"unreachable: {error}"
                continue
            try:
                yield path, target, Manifest.from_bytes(data), None
            except ManifestCorruptError as corrupt:
                logger.warning("ecfs: ignoring manifest copy of %s on %s: %s",
                               path, target.url, corrupt)
                yield path, target, None, f"corrupt: {corrupt}"

    def load_many(self, paths: list[str], ask_down: bool = False) -> dict[str, Manifest | None]:
        """Like ``load`` for many paths at once. Targets marked down are skipped unless no
        copy of a path is found without them; then they are asked after all."""
        found: dict[str, Manifest | None] = dict.fromkeys(paths)
        unreachable: dict[str, dict[str, str]] = {path: {} for path in paths}
        for path, target, copy, problem in self._read_copies(paths, ask_down):
            if problem is not None and problem.startswith("unreachable"):
                unreachable[path][target.url] = problem
            best = found[path]
            if copy is not None and (best is None or _newness(copy) > _newness(best)):
                found[path] = copy
        retry = [path for path in paths if found[path] is None and unreachable[path]]
        if retry and not ask_down:
            found.update(self.load_many(retry, ask_down=True))
            return found
        for path in paths:
            if found[path] is None and len(unreachable[path]) > self.m:
                raise ManifestUnavailableError(path, unreachable[path])
        return found

    def copy_problems(self, manifest: Manifest) -> dict[str, str]:
        """Targets of ``manifest.path`` whose copy is missing, unreadable, corrupt or stale."""
        problems = {}
        for _, target, copy, problem in self._read_copies([manifest.path]):
            if problem is not None:
                problems[target.url] = problem
            elif _newness(copy) < _newness(manifest):
                problems[target.url] = "stale"
        return problems

    def publish(self, manifest: Manifest, targets: list[Target] | None = None) -> None:
        """Write manifest copies; more than m failed copies undo the publication and raise."""
        targets = targets if targets is not None else self.placement(manifest.path)
        data = manifest.to_bytes()

        def write(target: Target) -> None:
            target.fs.pipe_file(target.meta_path(manifest.path), data)

        failures = {}
        written = []
        for target, _, error in call_on_targets(self.pool, write, targets):
            if error is None:
                written.append(target)
            else:
                target.mark_down(error)
                failures[target.url] = str(error)
        if len(failures) > self.m:
            left_on = self.remove(manifest.path, written)
            raise ECWriteError(manifest.path, failures, self.m, left_on)

    def remove(self, path: str, targets: list[Target] | None = None) -> tuple[str, ...]:
        """Delete the manifest copies of ``path`` (on every target unless told which); the
        urls of the targets whose copy could not be removed."""

        def delete(target: Target) -> None:
            target.remove_manifest(path)

        left_on = []
        for target, _, error in call_on_targets(
            self.pool, delete, self.targets if targets is None else targets
        ):
            if error is not None and not is_missing(error):
                logger.warning("ecfs: could not remove manifest of %s on %s: %s",
                               path, target.url, error)
                left_on.append(target.url)
        return tuple(left_on)

    def list_dir(self, path: str) -> dict[str, str]:
        """Logical children of directory ``path`` seen on any target: name -> file|directory."""

        def listing(target: Target) -> list[dict]:
            meta = target.meta_path(path)
            target.fs.invalidate_cache(meta)
            return target.fs.ls(meta, detail=True)

        children: dict[str, str] = {}
        for target, entries, error in call_on_targets(self.pool, listing, self.targets):
            if error is not None:
                if not is_missing(error):
                    target.mark_down(error)
                continue
            for entry in entries:
                name = target.logical_path(entry["name"])
                if name == path:  # a listing of a file path lists the file itself
                    continue
                kind = "directory" if entry["type"] == "directory" else "file"
                children.setdefault(name, kind)
        return children


def _newness(manifest: Manifest) -> tuple[int, str]:
    return manifest.version, manifest.file_id


def _read_copy(request: tuple[str, Target]) -> bytes:
    path, target = request
    return target.fs.cat_file(target.meta_path(path))
