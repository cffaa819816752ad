"""The embedded SeaweedFS is a real S3 server: credentials are checked, data round-trips."""

import fsspec
import pytest

from tierfs.sizes import parse_size


def test_embedded_s3_round_trips_an_object(s3, bucket):
    s3.pipe(f"{bucket}/hello.txt", b"hello tierfs")
    assert s3.cat(f"{bucket}/hello.txt") == b"hello tierfs"


def test_embedded_s3_rejects_wrong_credentials(seaweed, bucket):
    options = seaweed.storage_options() | {"secret": "not-the-secret"}
    wrong = fsspec.filesystem("s3", skip_instance_cache=True, **options)
    with pytest.raises(PermissionError):
        wrong.pipe(f"{bucket}/x", b"data")


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
