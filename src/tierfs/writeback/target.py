"""How a buffer directory remembers its target, so ``tierfs writeback flush DIR`` needs only DIR.

The target filesystem's own ``to_dict()`` (protocol and storage options) is kept in
``buffer_dir/target.json``, readable by its owner only, because options may hold credentials.
``describe_target`` is the one printable form: protocol and endpoint, never option values.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from tierfs.writeback.durability import fsync_directory

logger = logging.getLogger(__name__)

TARGET_NAME = "target.json"


def record_target(directory: str | os.PathLike, target_fs: AbstractFileSystem) -> None:
    """Store how to reach ``target_fs``; skip (with a warning) a filesystem that cannot say."""
    try:
        text = json.dumps(target_fs.to_dict())
    except (TypeError, ValueError, NotImplementedError, AttributeError) as error:
        logger.warning(
            "cannot record the target of %s (%s): 'tierfs writeback flush' will need --target",
            directory, type(error).__name__,
        )
        return
    path = Path(directory) / TARGET_NAME
    aside = path.with_name(TARGET_NAME + ".new")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(aside, path)
    fsync_directory(directory)


def lands_late(target_fs: AbstractFileSystem) -> bool:
    """Whether a request of a process that died may still land in ``target_fs`` afterwards.

    A local filesystem applies a write within the system call, so once its process is dead
    nothing more arrives; a network store may complete a request its client sent before
    dying (S3 has no fencing of a dead client)."""
    return not isinstance(target_fs, LocalFileSystem)


def load_target(directory: str | os.PathLike) -> AbstractFileSystem:
    path = Path(directory) / TARGET_NAME
    try:
        description = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{directory} has no recorded target ({TARGET_NAME}); pass --target URL"
        ) from None
    return AbstractFileSystem.from_dict(description)


def describe_target(directory: str | os.PathLike) -> str:
    """Protocol and endpoint of the recorded target; credentials and other values left out."""
    try:
        description = json.loads((Path(directory) / TARGET_NAME).read_text())
    except FileNotFoundError:
        return "(not recorded)"
    protocol = description.get("protocol", "?")
    protocol = protocol[0] if isinstance(protocol, list) else protocol
    endpoint = (description.get("client_kwargs") or {}).get("endpoint_url")
    return f"{protocol}://" + (f" at {endpoint}" if endpoint else "")
