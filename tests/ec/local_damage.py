"""Helpers for tests over local-directory targets: where fragments are, and how to damage them."""

from __future__ import annotations

from tierfs.ec import ECFileSystem


def node_dir(url: str) -> str:
    return url.removeprefix("file://")


def fragment_files(fs: ECFileSystem, path: str) -> list[str]:
    """The fragment object of each index, as a local path."""
    manifest = fs.manifest(path)
    return [node_dir(url) + "/data/" + manifest.fragment_name(i)
            for i, url in enumerate(manifest.targets)]


def flip_byte(path: str, offset: int) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))
