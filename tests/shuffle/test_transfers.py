"""Map outputs on S3 move through obstore (joined, or streamed when large), and
through s3fs where obstore cannot express an option: the same bytes either way."""

from __future__ import annotations

import logging
import os
import uuid

import pytest

import tierfs.shuffle
from tierfs.shuffle import transfers
from tierfs.shuffle.transfers import FsspecTransfers, ObstoreTransfers


def _write_and_read_back(service, payloads: dict[int, bytes]) -> None:
    shuffle = service.create(f"t-{uuid.uuid4().hex[:12]}", len(payloads))
    with shuffle.map_writer(0) as writer:
        for partition, data in payloads.items():
            for start in range(0, len(data), 50_000):
                writer.write(partition, data[start:start + 50_000])
        writer.commit()
    for partition, data in payloads.items():
        assert shuffle.reader(partition, map_ids=[0]).read_bytes() == data
    shuffle.delete()


def _payloads(partitions: int, size: int) -> dict[int, bytes]:
    return {partition: os.urandom(size) for partition in range(partitions)}


def test_an_s3_shuffle_moves_its_bytes_through_obstore(seaweed, bucket, monkeypatch):
    service = tierfs.shuffle.open_service(f"s3://{bucket}/through-obstore",
                                          **seaweed.storage_options(), compression=None)
    moved = service.storage.transfers
    assert isinstance(moved, ObstoreTransfers)
    # blocks carry their own checksums: the payload is not hashed again for the signature
    assert str(moved.s3.store(bucket).config["unsigned_payload"]).lower() == "true"
    calls = []
    for name in ("put", "cat_ranges"):
        original = getattr(moved.s3, name)
        monkeypatch.setattr(moved.s3, name, lambda *a, _o=original, _n=name, **k:
                            calls.append(_n) or _o(*a, **k))
    _write_and_read_back(service, _payloads(3, 300_000))
    assert calls.count("put") == 1 and "cat_ranges" in calls


def test_an_output_past_the_joined_size_is_streamed_in_parts(seaweed, bucket, monkeypatch):
    monkeypatch.setattr(transfers, "_JOINED_UP_TO", 2**20)
    monkeypatch.setattr(transfers, "_PART_SIZE", 5 * 2**20)  # S3's smallest part
    service = tierfs.shuffle.open_service(f"s3://{bucket}/multipart", buffer_size="1MiB",
                                          **seaweed.storage_options())
    sent = []
    original = service.storage.transfers.s3.put
    monkeypatch.setattr(service.storage.transfers.s3, "put",
                        lambda path, data, *a: sent.append(type(data)) or original(path, data, *a))
    _write_and_read_back(service, _payloads(4, 3 * 2**20))  # 12 MiB, spilled: three parts
    assert sent and sent[0] is not bytes  # an iterator of buffers, never joined


def test_an_option_obstore_cannot_express_keeps_s3fs(seaweed, bucket, caplog):
    caplog.set_level(logging.INFO, logger="tierfs.shuffle.transfers")
    service = tierfs.shuffle.open_service(f"s3://{bucket}/through-s3fs",
                                          **seaweed.storage_options(),
                                          config_kwargs={"connect_timeout": 5})
    assert type(service.storage.transfers) is FsspecTransfers
    assert "config_kwargs" in caplog.text and seaweed.secret_key not in caplog.text
    _write_and_read_back(service, _payloads(3, 300_000))


@pytest.mark.parametrize("url", ["file", "tierfs::s3"])
def test_other_stores_keep_their_own_calls(url, tmp_path, seaweed, bucket):
    if url == "file":
        service = tierfs.shuffle.open_service(f"file://{tmp_path}/shuffle")
    else:
        service = tierfs.shuffle.open_service(
            f"tierfs::s3://{bucket}/own-calls", s3=seaweed.storage_options(),
            tierfs={"tiers": [{"medium": "memory", "capacity": "16MiB"}],
                    "skip_instance_cache": True})
    assert type(service.storage.transfers) is FsspecTransfers
    _write_and_read_back(service, _payloads(2, 100_000))
