"""The cache engine without Unix-only modules, and without process-wide side effects."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tests.malloc_recorder import RECORD_MALLOPT


def _python(code: str, tmp_path, prelude: str = "") -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if name != "MALLOC_ARENA_MAX"}
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)


def test_a_memory_and_disk_cache_work_where_fcntl_and_resource_cannot_be_imported(tmp_path):
    data_path, disk = tmp_path / "object", tmp_path / "disk"
    result = _python(f"""
        import os, sys
        sys.modules["fcntl"] = None  # as on Windows: importing them fails
        sys.modules["resource"] = None
        import fsspec
        import tierfs
        from tierfs.cache import (BlockSource, CacheCounters, ObjectRef, RangeFetcher,
                                  TieredBlockCache, build_tiers, parse_tiers)

        def source(tiers):
            counters = CacheCounters()
            cache = TieredBlockCache(build_tiers(parse_tiers(tiers)), counters)
            fetcher = RangeFetcher(fsspec.filesystem("file"), 4, counters)
            return BlockSource(cache, fetcher, 65536), cache, counters

        data = os.urandom(300_000)
        with open({str(data_path)!r}, "wb") as file:
            file.write(data)
        obj = ObjectRef("file://", {str(data_path)!r}, len(data), "v1")
        disk = {{"medium": "disk", "path": {str(disk)!r}, "capacity": "8MiB"}}
        first, cache, _ = source([{{"medium": "memory", "capacity": "1MiB"}}, disk])
        assert b"".join(first.read_many([(obj, 0, len(data))])[0]) == data
        assert first.settle(30) and cache.tier_stats()[1]["blocks"] == 5
        again, _, counters = source([disk])  # a new process would find them on disk
        assert b"".join(again.read_many([(obj, 1000, 200_000)])[0]) == data[1000:200_000]
        stats = counters.snapshot()
        assert stats["hits"] == 4 and stats["misses"] == 0, stats
        print("read", len(data))
    """, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "read 300000"


def test_the_filesystem_reads_and_refuses_write_back_where_fcntl_cannot_be_imported(tmp_path):
    data_path = tmp_path / "object"
    result = _python(f"""
        import os, sys
        sys.modules["fcntl"] = None
        sys.modules["resource"] = None
        import fsspec

        data = os.urandom(300_000)
        with open({str(data_path)!r}, "wb") as file:
            file.write(data)
        tiers = [{{"medium": "memory", "capacity": "1MiB"}},
                 {{"medium": "disk", "path": {str(tmp_path / "disk")!r}, "capacity": "8MiB"}}]
        fs = fsspec.filesystem("tierfs", target_protocol="file", tiers=tiers,
                               block_size=65536)
        assert fs.cat_file({str(data_path)!r}) == data
        try:
            fsspec.filesystem("tierfs", target_protocol="file", tiers=tiers,
                              write_mode="back", buffer_dir={str(tmp_path / "buffer")!r},
                              skip_instance_cache=True)
        except OSError as error:
            print("refused:", error)
    """, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "refused: write_mode='back' needs flock" in result.stdout


def test_importing_the_library_leaves_malloc_alone_until_asked(tmp_path):
    result = _python("""
        import tierfs.cache, tierfs.fs
        assert mallopt_calls == [], mallopt_calls
        assert tierfs.cache.limit_malloc_arenas()
        print(mallopt_calls)
    """, tmp_path, RECORD_MALLOPT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[(-8, 1)]"  # M_ARENA_MAX: one arena
