"""Target outage: SeaweedFS stops while writers keep writing; after restart all is uploaded.

This test owns its SeaweedFS (the session server is shared), stops it and starts it again
on the same ports and data directory.
"""

from __future__ import annotations

import threading
import time

import fsspec
import pytest

from tierfs.embedded import EmbeddedS3
from tierfs.writeback import BufferFullError, WriteBackBuffer

KIB = 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with EmbeddedS3(tmp_path_factory.mktemp("outage-weed")) as server:
        server.create_bucket("outage")
        yield server


@pytest.fixture
def store(server):
    return fsspec.filesystem(
        "s3", skip_instance_cache=True, use_listings_cache=False, **server.storage_options()
    )


def _payload(index: int) -> bytes:
    return bytes([index % 251]) * (100 * KIB)


def _wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_writes_during_an_outage_wait_for_room_and_upload_after_restart(
    server, store, tmp_path
):
    prefix = "outage/wait"
    written: list[str] = []
    with WriteBackBuffer(
        tmp_path / "buffer", "1MiB", store, retry_initial=0.1, retry_max=1.0
    ) as buffer:
        buffer.pipe(f"{prefix}/before", b"before the outage")
        assert buffer.wait_flushed(30)
        server.stop()

        def writer() -> None:
            for index in range(30):  # 3 MB through a 1 MiB buffer
                buffer.pipe(f"{prefix}/f{index:02d}", _payload(index))
                written.append(f"{prefix}/f{index:02d}")

        thread = threading.Thread(target=writer)
        thread.start()
        assert _wait_until(lambda: buffer.stats()["retries"] >= 1, 30), buffer.stats()
        assert _wait_until(lambda: buffer.stats()["used_bytes"] > 900 * KIB, 10)
        thread.join(1.0)
        assert thread.is_alive(), "with the target down and the buffer full, writers wait"
        assert len(written) < 30
        server.start()
        thread.join(120)
        assert not thread.is_alive()
        assert buffer.wait_flushed(120), buffer.stats()
    assert store.cat_file(f"{prefix}/before") == b"before the outage"
    for index in range(30):
        assert store.cat_file(f"{prefix}/f{index:02d}") == _payload(index)


def test_when_full_fail_refuses_new_writes_during_an_outage_and_keeps_the_rest(
    server, store, tmp_path
):
    prefix = "outage/fail"
    with WriteBackBuffer(
        tmp_path / "buffer", "1MiB", store, when_full="fail", retry_initial=0.1, retry_max=1.0
    ) as buffer:
        server.stop()
        acknowledged = []
        with pytest.raises(BufferFullError):
            for index in range(30):
                buffer.pipe(f"{prefix}/f{index:02d}", _payload(index))
                acknowledged.append(index)
        assert 5 <= len(acknowledged) <= 10
        server.start()
        assert buffer.wait_flushed(120), buffer.stats()
    assert sorted(store.find(prefix)) == [f"{prefix}/f{index:02d}" for index in acknowledged]
    for index in acknowledged:
        assert store.cat_file(f"{prefix}/f{index:02d}") == _payload(index)
