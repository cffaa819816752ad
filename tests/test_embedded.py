"""The embedded SeaweedFS is a real S3 server: credentials are checked, data round-trips."""

import errno
import shutil

import fsspec
import psutil
import pytest

from tierfs import embedded
from tierfs.sizes import parse_size


def test_embedded_s3_round_trips_an_object(s3, bucket):
    s3.pipe(f"{bucket}/hello.txt", b"hello tierfs")
    assert s3.cat(f"{bucket}/hello.txt") == b"hello tierfs"


def test_the_running_server_gives_its_process_id(seaweed):
    assert psutil.Process(seaweed.pid).name() == "weed"


def test_embedded_s3_rejects_wrong_credentials(seaweed, bucket):
    options = seaweed.storage_options() | {"secret": "not-the-secret"}
    wrong = fsspec.filesystem("s3", skip_instance_cache=True, **options)
    with pytest.raises(PermissionError):
        wrong.pipe(f"{bucket}/x", b"data")


def test_a_disk_too_full_for_writes_is_refused_at_start(tmp_path, monkeypatch):
    """SeaweedFS would start, answer, and then hold every upload waiting for a volume."""
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(embedded.shutil, "disk_usage",
                        lambda path: usage._replace(free=embedded.MIN_FREE_BYTES - 1))
    server = embedded.EmbeddedS3(tmp_path / "weed")
    with pytest.raises(OSError) as raised:
        server.start()
    assert raised.value.errno == errno.ENOSPC
    assert str(tmp_path / "weed") in str(raised.value) and "MiB free" in str(raised.value)
    assert server._process is None  # nothing was started


@pytest.mark.parametrize(
    ("text", "expected"),
    [(4096, 4096), ("4096", 4096), ("64KiB", 65536), ("2 GiB", 2 * 2**30), ("1.5MB", 1_500_000)],
)
def test_parse_size_accepts_bytes_and_units(text, expected):
    assert parse_size(text, "capacity") == expected


@pytest.mark.parametrize("bad", ["-1", -5, "lots", "12XB", None, True])
def test_parse_size_names_the_setting_on_bad_input(bad):
    with pytest.raises(ValueError, match="tiers\\[0\\].capacity"):
        parse_size(bad, "tiers[0].capacity")


def test_free_ports_never_hands_out_another_ports_grpc_twin():
    """Every SeaweedFS service also binds port + 10000: a port equal to another chosen port's
    twin made a server fail with 'address already in use' (seen in a clean-clone run)."""
    for _ in range(200):
        ports = embedded.free_ports(40)
        assert len(set(ports)) == 40
        assert not {port + 10000 for port in ports} & set(ports)
