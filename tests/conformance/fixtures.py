"""Fixtures that fsspec's abstract conformance tests (``fsspec.tests.abstract``) ask for.

One filesystem is shared by every test of a class (the abstract tests clean up after
themselves); each test gets a fresh directory (``file://``) or prefix (``s3://``).
"""

from __future__ import annotations

import posixpath
import uuid

import fsspec
import pytest
from fsspec.tests.abstract import AbstractFixtures

WRITE_MODES = ("through", "back")

_KEEPS_DIRECTORIES = ("SeaweedFS keeps a directory after its last object is deleted, so s3fs "
                      "still finds it (exists, ls) where the test expects it gone")
S3FS_FAILS_ON_SEAWEED = {
    "test_copy_directory_to_existing_directory": _KEEPS_DIRECTORIES,
    "test_copy_directory_to_new_directory": _KEEPS_DIRECTORIES,
    "test_copy_glob_to_existing_directory": _KEEPS_DIRECTORIES,
    "test_copy_glob_to_new_directory": _KEEPS_DIRECTORIES,
    "test_copy_directory_without_files_with_same_name_prefix": _KEEPS_DIRECTORIES,
    "test_put_directory_to_existing_directory": _KEEPS_DIRECTORIES,
    "test_put_directory_to_new_directory": _KEEPS_DIRECTORIES,
    "test_put_glob_to_existing_directory": _KEEPS_DIRECTORIES,
    "test_put_glob_to_new_directory": _KEEPS_DIRECTORIES,
    "test_put_directory_recursive": _KEEPS_DIRECTORIES,
    "test_put_directory_without_files_with_same_name_prefix": _KEEPS_DIRECTORIES,
    "test_pipe_exclusive": "SeaweedFS answers a conditional PUT with 412 PreconditionFailed, "
                           "which s3fs raises as OSError, not FileExistsError",
    "test_open_exclusive": "s3fs checks mode 'xb' when the object is uploaded (on close), "
                           "not when the file is opened",
}
"""What s3fs itself fails on SeaweedFS, and why: ``S3fsOverSeaweed`` proves the list (strict)."""

# write-back checks existence for 'create'/'xb' itself, and removes a directory in the target
# once the removals below it are applied, which also clears the directory SeaweedFS keeps
PASSED_BY_WRITE_BACK = frozenset({
    "test_pipe_exclusive", "test_open_exclusive",
    "test_copy_glob_to_existing_directory", "test_put_glob_to_existing_directory",
})


def tierfs(tmp, write_mode: str, target_protocol: str, target_options: dict):
    """tierfs with a memory and a disk tier under ``tmp``, in ``write_mode``."""
    options = {"buffer_dir": str(tmp / "buffer")} if write_mode == "back" else {}
    return fsspec.filesystem(
        "tierfs", target_protocol=target_protocol, target_options=target_options,
        tiers=[{"medium": "memory", "capacity": "16MiB"},
               {"medium": "disk", "path": str(tmp / "disk"), "capacity": "64MiB"}],
        write_mode=write_mode, skip_instance_cache=True, **options,
    )


class TierfsOverLocal(AbstractFixtures):
    """tierfs over ``file://`` (``auto_mkdir=True``), once per write mode."""

    @pytest.fixture(scope="class", params=WRITE_MODES)
    @classmethod
    def fs(cls, request, tmp_path_factory):
        fs = tierfs(tmp_path_factory.mktemp("tierfs"), request.param, "file",
                    {"auto_mkdir": True, "skip_instance_cache": True})
        yield fs
        fs.close()

    @pytest.fixture
    def fs_path(self, tmp_path):
        remote = tmp_path / "remote"
        remote.mkdir()
        return str(remote)


class OverSeaweed(AbstractFixtures):
    """Paths on the embedded SeaweedFS: a fresh prefix per test, no empty directories.

    Tests s3fs itself fails there are expected to fail (strictly: a pass is reported).
    """

    @pytest.fixture(autouse=True)
    def _expected_failure(self, request, fs):
        reason = S3FS_FAILS_ON_SEAWEED.get(request.function.__name__)
        if reason is not None and not self.passes_anyway(request):
            request.applymarker(pytest.mark.xfail(reason=reason, strict=True))

    def passes_anyway(self, request) -> bool:
        return False

    @pytest.fixture
    def fs_join(self):
        return posixpath.join

    @pytest.fixture
    def fs_path(self, shared_bucket):
        return f"{shared_bucket}/conformance-{uuid.uuid4().hex[:12]}"

    @pytest.fixture
    def supports_empty_directories(self):
        return False


class S3fsOverSeaweed(OverSeaweed):
    """s3fs itself, as a user configures it: the reference tierfs is held to."""

    @pytest.fixture(scope="class")
    @classmethod
    def fs(cls, seaweed):
        return fsspec.filesystem("s3", skip_instance_cache=True, **seaweed.storage_options())


class TierfsOverSeaweed(OverSeaweed):
    """tierfs over ``s3://`` on the embedded SeaweedFS, once per write mode."""

    @pytest.fixture(scope="class", params=WRITE_MODES)
    @classmethod
    def fs(cls, request, seaweed, tmp_path_factory):
        fs = tierfs(tmp_path_factory.mktemp("tierfs"), request.param, "s3",
                    seaweed.storage_options() | {"skip_instance_cache": True})
        yield fs
        fs.close()

    def passes_anyway(self, request) -> bool:
        fs = request.getfixturevalue("fs")
        return fs.write_mode == "back" and request.function.__name__ in PASSED_BY_WRITE_BACK
