"""HDFS under stores where no HDFS runs: tierfs fails at once, naming what is missing.

No namenode, libhdfs or Hadoop installation exists on these machines, so what is verified is
the failure: one error that says libhdfs (and a JVM) could not be loaded, or that the
namenode does not answer, instead of a traceback from inside pyarrow or an HTTP pool.
"""

from __future__ import annotations

import importlib.util

import fsspec
import pytest

from tierfs.embedded import free_ports

MEMORY_TIER = [{"medium": "memory", "capacity": "1MiB"}]
REQUESTS = importlib.util.find_spec("requests") is not None


def tierfs_over(protocol: str, port: int):
    return fsspec.filesystem("tierfs", target_protocol=protocol, skip_instance_cache=True,
                             target_options={"host": "127.0.0.1", "port": port},
                             tiers=MEMORY_TIER)


@pytest.fixture
def silent_port() -> int:
    """A local port nothing listens on."""
    return free_ports(1)[0]


@pytest.mark.parametrize("java_home", [None, "/usr/lib/jvm/java-17-openjdk-amd64"])
def test_hdfs_names_libhdfs_when_pyarrow_cannot_load_it(java_home, silent_port, monkeypatch):
    if java_home is None:
        monkeypatch.delenv("JAVA_HOME", raising=False)
    else:
        monkeypatch.setenv("JAVA_HOME", java_home)
    with pytest.raises(OSError, match=r"needs libhdfs and a Java runtime|namenode .* is "
                                      r"unreachable") as failure:
        tierfs_over("hdfs", silent_port)
    assert failure.value.__suppress_context__  # one error, not pyarrow's traceback


@pytest.mark.skipif(not REQUESTS, reason="requests is not installed (webhdfs needs it)")
def test_webhdfs_names_the_unreachable_namenode(silent_port):
    with pytest.raises(ConnectionError,
                       match=f"WebHDFS namenode 127.0.0.1:{silent_port} is unreachable"):
        tierfs_over("webhdfs", silent_port)


@pytest.mark.skipif(not REQUESTS, reason="requests is not installed (webhdfs needs it)")
def test_a_chained_webhdfs_url_fails_the_same_way(silent_port):
    with pytest.raises(ConnectionError, match="namenode .* is unreachable") as failure:
        with fsspec.open(f"tierfs::webhdfs://127.0.0.1:{silent_port}/data/part-0.parquet",
                         "rb", tierfs={"tiers": MEMORY_TIER}) as file:
            file.read()
    assert failure.value.__suppress_context__


@pytest.mark.skipif(REQUESTS, reason="requests is installed: the namenode check runs instead")
def test_webhdfs_without_requests_names_the_package(silent_port):
    with pytest.raises(ImportError, match="webhdfs:// under store needs a package.*requests"):
        tierfs_over("webhdfs", silent_port)
