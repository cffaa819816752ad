"""Opening the store tierfs wraps, with errors that name the missing piece.

fsspec builds the under store; when that fails, it fails deep inside a client library
(pyarrow's JNI loader for ``hdfs://``, an HTTP pool for ``webhdfs://``). Here such failures
become one line saying what is missing: a package, libhdfs and a JVM, or a reachable namenode.
Stores whose construction sends no request (``webhdfs``) are checked for a listening
namenode at once, rather than at the first read.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import fsspec
from fsspec import AbstractFileSystem

HDFS_PROTOCOLS = ("hdfs", "arrow_hdfs", "webhdfs")
_NATIVE_LIBRARIES = ("libhdfs", "libjvm", "java_home", "hadoop_home", "classpath")
_CONNECT_TIMEOUT_S = 5.0


def open_under_store(protocol: str, options: dict) -> AbstractFileSystem:
    """``fsspec.filesystem(protocol, **options)``; for HDFS, failures say what is missing."""
    if protocol not in HDFS_PROTOCOLS:
        return fsspec.filesystem(protocol, **options)
    try:
        fs = fsspec.filesystem(protocol, **options)
    except ImportError as error:
        raise ImportError(f"tierfs: the {protocol}:// under store needs a package that is "
                          f"not installed: {error}") from None
    except OSError as error:
        detail = _first_line(error)
        if any(name in str(error).lower() for name in _NATIVE_LIBRARIES):
            raise OSError(f"tierfs: the {protocol}:// under store needs libhdfs and a Java "
                          "runtime, which pyarrow could not load (set JAVA_HOME, and "
                          f"ARROW_LIBHDFS_DIR or HADOOP_HOME): {detail}") from None
        raise ConnectionError(f"tierfs: the HDFS namenode {_namenode(options)} is "
                              f"unreachable: {detail}") from None
    if protocol == "webhdfs":  # its construction sent no request: is anyone listening?
        _check_listening(urlsplit(fs.url))
    return fs


def _check_listening(url) -> None:
    address = (url.hostname, url.port or (443 if url.scheme == "https" else 80))
    try:
        socket.create_connection(address, timeout=_CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise ConnectionError(f"tierfs: the WebHDFS namenode {address[0]}:{address[1]} is "
                              f"unreachable: {error}") from None


def _namenode(options: dict) -> str:
    host = options.get("host", "default")
    return f"{host}:{options['port']}" if "port" in options else str(host)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
