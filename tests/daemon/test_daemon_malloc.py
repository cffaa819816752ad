"""The daemon limits glibc's malloc arenas for its own process (the library leaves them alone)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tests.malloc_recorder import RECORD_MALLOPT


def test_the_daemon_limits_malloc_arenas_at_start(tmp_path):
    config = tmp_path / "daemon.toml"
    config.write_text(textwrap.dedent(f"""
        [server]
        host = "127.0.0.1"
        port = 0
        [cache]
        tiers = [{{medium = "ssd", path = "{tmp_path / 'ssd'}", capacity = "8MiB"}}]
        [mounts.local]
        url = "file://{tmp_path / 'data'}"
    """))
    code = RECORD_MALLOPT + textwrap.dedent(f"""
        import argparse
        import tierfs_server.app
        from tierfs_server import cli

        async def serve(config):  # the daemon's start, without serving
            print("served", mallopt_calls)

        tierfs_server.app.serve = serve
        assert cli.run_daemon(argparse.Namespace(config={str(config)!r})) == 0
    """)
    env = {name: value for name, value in os.environ.items() if name != "MALLOC_ARENA_MAX"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "served [(-8, 1)]"
