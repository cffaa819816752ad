"""``tierfs writeback status`` and ``flush`` on a buffer left with pending work."""

from __future__ import annotations

import json

from tierfs.cli import main
from tierfs.writeback import WriteBackBuffer


def _leave_pending_work(s3, bucket, buffer_dir) -> None:
    """Queue two writes against an unreachable copy of the target, then close."""
    with WriteBackBuffer(buffer_dir, "1MiB", s3) as buffer:
        buffer._uploader.stop()  # keep them pending: this test is about the CLI
        buffer.pipe(f"{bucket}/a", b"alpha")
        buffer.pipe(f"{bucket}/b", b"beta")


def test_status_reports_pending_operations_without_credentials(
    s3, seaweed, bucket, tmp_path, capsys
):
    _leave_pending_work(s3, bucket, tmp_path / "buffer")
    assert main(["writeback", "status", str(tmp_path / "buffer"), "--json"]) == 0
    out = capsys.readouterr().out
    status = json.loads(out)
    assert status["pending_ops"] == 2
    assert status["pending_by_kind"] == {"write": 2}
    assert status["queued_bytes"] == 9
    assert status["in_use_by_pid"] is None
    assert seaweed.endpoint_url in status["target"]
    assert seaweed.secret_key not in out and seaweed.access_key not in out


def test_flush_uploads_to_the_recorded_target_with_only_the_directory(
    s3, seaweed, bucket, tmp_path, capsys
):
    _leave_pending_work(s3, bucket, tmp_path / "buffer")
    assert main(["writeback", "flush", str(tmp_path / "buffer"), "--timeout", "60"]) == 0
    out = capsys.readouterr().out
    assert "flushed 2 operations" in out
    assert seaweed.secret_key not in out
    assert s3.cat_file(f"{bucket}/a") == b"alpha"
    assert s3.cat_file(f"{bucket}/b") == b"beta"
    main(["writeback", "status", str(tmp_path / "buffer")])
    assert "pending     0 operations" in capsys.readouterr().out
