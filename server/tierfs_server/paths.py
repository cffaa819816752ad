"""Validation of paths that arrive over the network: they must stay inside their mount."""

from __future__ import annotations

import posixpath


def checked_path(root: str, path: str) -> str:
    """``path`` if it is a normalized path under ``root``; ``ValueError`` otherwise.

    No ``..`` or ``.`` segments, no NUL, no backslashes, nothing outside the mount's
    root: a request can never make the daemon read another bucket or directory.
    """
    if not path or "\0" in path or "\\" in path:
        raise ValueError("path: empty or contains forbidden characters")
    segments = path.split("/")
    if any(segment in ("..", ".") for segment in segments):
        raise ValueError("path: '.' and '..' segments are not allowed")
    normalized = posixpath.normpath(path)
    if path.startswith("//") or normalized != path.rstrip("/"):
        raise ValueError("path: not in normal form")
    root = root.rstrip("/")
    if root and not (path == root or path.startswith(root + "/")):
        raise ValueError("path: outside the mount")
    return path
