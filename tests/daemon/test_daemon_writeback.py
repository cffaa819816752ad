"""Write-back through the daemon: acknowledged by the node, uploaded even after clients exit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tests.daemon.test_daemon_reads import MiB, daemon_fs


def test_writes_through_the_daemon_are_read_back_and_uploaded(seaweed, s3, bucket,
                                                               start_daemon, tmp_path):
    daemon = start_daemon(writeback={"dir": str(tmp_path / "wb"), "capacity": "256MiB"})
    fs = daemon_fs(seaweed, daemon.url, write_mode="back", metadata_ttl=-1)
    data = os.urandom(3 * MiB + 1)
    with fs.open(f"{bucket}/out/part-0", "wb") as file:
        file.write(data)
    fs.pipe_file(f"{bucket}/out/part-1", b"small")
    fs.pipe_file(f"{bucket}/out/doomed", b"x")
    fs.rm(f"{bucket}/out/doomed")
    fs.mv(f"{bucket}/out/part-1", f"{bucket}/out/renamed")
    assert fs.cat_file(f"{bucket}/out/part-0") == data
    assert fs.cat_file(f"{bucket}/out/renamed") == b"small"
    assert sorted(fs.ls(f"{bucket}/out", detail=False)) == [f"{bucket}/out/part-0",
                                                            f"{bucket}/out/renamed"]
    assert fs.wait_flushed(60)
    assert s3.cat_file(f"{bucket}/out/part-0") == data
    assert sorted(s3.ls(f"{bucket}/out", detail=False)) == [f"{bucket}/out/part-0",
                                                            f"{bucket}/out/renamed"]
    assert daemon.stats()["writeback"]["uploaded_files"] >= 3


def test_acknowledged_writes_are_uploaded_after_the_client_process_exits(
        seaweed, s3, bucket, start_daemon, tmp_path):
    daemon = start_daemon(writeback={"dir": str(tmp_path / "wb")})
    script = textwrap.dedent(f"""
        import os, fsspec
        fs = fsspec.filesystem("tierfs", target_protocol="s3",
                               target_options={seaweed.storage_options()!r},
                               daemon={daemon.url!r}, write_mode="back")
        for i in range(5):
            fs.pipe_file({bucket!r} + f"/job/{{i}}", bytes([i]) * 100_000)
        os._exit(0)  # leave at once: nothing of ours waits for the uploads
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    reader = daemon_fs(seaweed, daemon.url, write_mode="back")
    assert reader.wait_flushed(60)
    for i in range(5):
        assert s3.cat_file(f"{bucket}/job/{i}") == bytes([i]) * 100_000


def test_write_back_paths_outside_the_mount_are_refused(start_daemon, tmp_path):
    import json
    import urllib.error
    import urllib.request

    def status(route: str, method: str, body: bytes) -> int:
        request = urllib.request.Request(daemon.url + route, data=body, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    daemon = start_daemon(writeback={"dir": str(tmp_path / "wb")})
    assert status("/v1/file?mount=tests&path=tierfs-tests/../elsewhere/x", "PUT", b"x") == 400
    rm = json.dumps({"mount": "tests", "path": "../../etc/passwd"}).encode()
    assert status("/v1/rm", "POST", rm) == 400
    assert not list((tmp_path / "wb").rglob("elsewhere"))


def test_a_file_uploaded_between_the_overlay_answer_and_its_download_reads_from_the_store(
        seaweed, s3, bucket, start_daemon, tmp_path, monkeypatch):
    daemon = start_daemon(writeback={"dir": str(tmp_path / "wb")})
    fs = daemon_fs(seaweed, daemon.url, write_mode="back", metadata_ttl=-1)
    fs.pipe_file(f"{bucket}/out/part-0", b"uploaded meanwhile")
    buffer = fs._writes.buffer  # the daemon's buffer, seen from this client
    overlay = buffer._overlay
    stale = []

    def answer_then_upload(*args, **kwargs):
        entries = overlay(*args, **kwargs)
        if not stale:  # the first answer goes stale: the daemon uploads and drops the file
            stale.append(entries)
            assert buffer.wait_flushed(30)
        return entries

    monkeypatch.setattr(buffer, "_overlay", answer_then_upload)
    assert fs.info(f"{bucket}/out/part-0")["size"] == len(b"uploaded meanwhile")
    assert stale and f"{bucket}/out/part-0" in stale[0]
    assert fs.cat_file(f"{bucket}/out/part-0") == b"uploaded meanwhile"
