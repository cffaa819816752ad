"""Bad configuration fails at construction with a ValueError naming the setting."""

from __future__ import annotations

import pytest

from tierfs.writeback import WriteBackBuffer


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"capacity": "lots"}, "buffer_capacity"),
        ({"capacity": 0}, "buffer_capacity"),
        ({"capacity": -5}, "buffer_capacity"),
        ({"when_full": "drop"}, "when_full"),
        ({"upload_workers": 0}, "upload_workers"),
        ({"upload_workers": "4"}, "upload_workers"),
        ({"retry_initial": 0}, "retry_initial"),
        ({"retry_initial": 5, "retry_max": 1}, "retry_max"),
        ({"recovery_settle": -1}, "recovery_settle"),
        ({"target_fs": "s3://bucket"}, "target_fs"),
    ],
)
def test_bad_setting_is_named(target, buffer_dir, overrides, setting):
    arguments = {"buffer_dir": buffer_dir, "capacity": "1MiB", "target_fs": target, **overrides}
    with pytest.raises(ValueError, match=setting):
        WriteBackBuffer(**arguments)


def test_a_buffer_dir_that_is_a_file_is_named(target, tmp_path):
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("x")
    with pytest.raises(ValueError, match="buffer_dir"):
        WriteBackBuffer(not_a_directory, "1MiB", target)


def test_sizes_accept_units(target, buffer_dir):
    with WriteBackBuffer(buffer_dir, "2 MiB", target) as buffer:
        assert buffer.settings.capacity == 2 * 2**20
