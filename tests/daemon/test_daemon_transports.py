"""The daemon also listens on a unix socket, and serves HTTPS when given a certificate."""

from __future__ import annotations

import os
import subprocess

from tests.daemon.test_daemon_reads import MiB, daemon_fs


def test_clients_reach_the_daemon_through_a_unix_socket(seaweed, s3, bucket, start_daemon,
                                                         tmp_path):
    socket_path = str(tmp_path / "tierfs.sock")
    daemon = start_daemon(server={"unix_socket": socket_path})
    data = os.urandom(2 * MiB + 7)
    s3.pipe(f"{bucket}/f", data)
    fs = daemon_fs(seaweed, socket_path, short_circuit=False, daemon_fallback="error")
    assert fs.cat_file(f"{bucket}/f") == data
    assert fs.cache_stats()["daemon_bytes"] >= len(data)
    assert daemon.stats()["under_store_bytes"] == len(data)


def test_the_daemon_serves_https_with_a_configured_certificate(seaweed, s3, bucket,
                                                              start_daemon, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    daemon = start_daemon(server={"tls_cert": str(cert), "tls_key": str(key)})
    assert daemon.url.startswith("https://")
    data = os.urandom(MiB)
    s3.pipe(f"{bucket}/f", data)
    fs = daemon_fs(seaweed, daemon.url, short_circuit=False, daemon_fallback="error",
                   daemon_cafile=str(cert))
    assert fs.cat_file(f"{bucket}/f") == data
    assert fs.cat_file(f"{bucket}/f") == data  # warm: from the data port, over TLS too
    stats = daemon.stats()
    assert stats["under_store_bytes"] == len(data)
    assert stats["block_server"]["requests"] >= 2 and stats["block_server"]["bad_requests"] == 0
