"""Bad configuration is refused with a ValueError that names the setting."""

from __future__ import annotations

import fsspec
import pytest


def make(tmp_path, **options):
    return fsspec.filesystem("tierfs", target_protocol="file", skip_instance_cache=True,
                             **options)


@pytest.mark.parametrize(
    ("tiers", "setting"),
    [
        ([{"medium": "tape", "capacity": "1GiB"}], r"tiers\[0\]\.medium"),
        ([{"medium": "memory", "capacity": "-1"}], r"tiers\[0\]\.capacity"),
        ([{"medium": "memory", "capacity": -5}], r"tiers\[0\]\.capacity"),
        ([{"medium": "memory", "capacity": "lots"}], r"tiers\[0\]\.capacity"),
        ([{"medium": "memory"}], r"tiers\[0\]\.capacity"),
        ([{"medium": "memory", "capacity": 1}, {"medium": "ssd", "capacity": "1GiB",
                                                "eviction": "random"}],
         r"tiers\[1\]\.eviction"),
        ([{"medium": "memory", "capacity": 1, "colour": "blue"}], r"tiers\[0\]"),
        ([], "tiers"),
    ],
)
def test_bad_tiers_name_the_setting(tmp_path, tiers, setting):
    with pytest.raises(ValueError, match=setting):
        make(tmp_path, tiers=tiers)


def test_an_unwritable_tier_path_names_the_setting(tmp_path):
    not_a_directory = tmp_path / "file"
    not_a_directory.write_bytes(b"")
    tiers = [{"medium": "memory", "capacity": "1MiB"},
             {"medium": "disk", "path": str(not_a_directory / "cache"), "capacity": "1GiB"}]
    with pytest.raises(ValueError, match=r"tiers\[1\]\.path"):
        make(tmp_path, tiers=tiers)


@pytest.mark.parametrize(
    ("options", "setting"),
    [
        ({"block_size": 0}, "block_size"),
        ({"block_size": "huge"}, "block_size"),
        ({"metadata_ttl": "soon"}, "metadata_ttl"),
        ({"fetch_concurrency": 0}, "fetch_concurrency"),
        ({"prefetch_blocks": -1}, "prefetch_blocks"),
        ({"write_mode": "sideways"}, "write_mode"),
    ],
)
def test_bad_options_name_the_setting(tmp_path, options, setting):
    tiers = [{"medium": "memory", "capacity": "1MiB"}]
    with pytest.raises(ValueError, match=setting):
        make(tmp_path, tiers=tiers, **options)


def test_a_target_protocol_is_required():
    with pytest.raises(ValueError, match="target_protocol"):
        fsspec.filesystem("tierfs", skip_instance_cache=True)


def test_tiers_are_ordered_fastest_first_whatever_the_order_given(tmp_path):
    fs = make(tmp_path, tiers=[
        {"medium": "disk", "path": str(tmp_path / "d"), "capacity": "1MiB"},
        {"medium": "memory", "capacity": "1MiB"},
        {"medium": "ssd", "path": str(tmp_path / "s"), "capacity": "1MiB"},
    ])
    assert [t["medium"] for t in fs.cache_stats()["tiers"]] == ["memory", "ssd", "disk"]


def test_default_tiers_are_memory_and_a_disk_tier_in_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    fs = make(tmp_path)
    tiers = fs.cache_stats()["tiers"]
    assert [t["medium"] for t in tiers] == ["memory", "disk"]
    assert tiers[1]["path"].startswith(str(tmp_path / "xdg"))


def test_local_files_read_through_the_cache(tmp_path):
    (tmp_path / "data.bin").write_bytes(b"local bytes" * 1000)
    fs = make(tmp_path, tiers=[{"medium": "memory", "capacity": "1MiB"}])
    assert fs.cat_file(str(tmp_path / "data.bin")) == b"local bytes" * 1000
    assert fs.cache_stats()["under_store_bytes"] == 11000
