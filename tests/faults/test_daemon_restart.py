"""The daemon SIGKILLed and restarted under 16 client processes: no wrong byte, and every
client resumes reading through the restarted daemon."""

from __future__ import annotations

import time

from soak.payloads import payload
from soak.pool import ClientPool, merge
from tierfs.embedded import free_ports
from tierfs_server.launcher import DaemonProcess, render_config

KiB = 1024
CLIENTS = 16
# a client that lost its daemon reads the store directly, and asks the daemon again 5 s later
# (tierfs.daemon_client.fetcher); it must have done so before the run ends
AFTER_RESTART_S = 8.0


def daemon_process(directory, seaweed, bucket: str) -> DaemonProcess:
    """A daemon over ``bucket`` with small tiers under ``directory`` (not started)."""
    port = free_ports(1)[0]
    config = directory / "daemon.toml"
    directory.mkdir(parents=True, exist_ok=True)
    config.write_text(render_config({
        "server": {"host": "127.0.0.1", "port": port},
        "cache": {"block_size": "256KiB", "tiers": [  # smaller than the data: misses go on
            {"medium": "memory", "capacity": "2MiB"},
            {"medium": "ssd", "path": str(directory / "ssd"), "capacity": "4MiB"}]},
        "mounts": {"data": {"url": f"s3://{bucket}", "options": seaweed.storage_options()}},
    }))
    return DaemonProcess(config, f"http://127.0.0.1:{port}")


def test_a_daemon_killed_under_16_clients_serves_no_wrong_byte_and_clients_resume(
        seaweed, s3, bucket, tmp_path, reliability):
    objects = {f"{bucket}/o{i:02d}": 768 * KiB + i for i in range(12)}
    s3.pipe({path: payload(path, size) for path, size in objects.items()})
    daemon = daemon_process(tmp_path / "daemon", seaweed, bucket.split("/")[0]).start()
    pool = ClientPool(CLIENTS, {"storage_options": seaweed.storage_options(),
                                "daemon": daemon.url, "objects": objects}, tmp_path / "pool")
    try:
        pool.start()
        time.sleep(2.0)
        daemon.kill()
        daemon.start()
        pool.mark()
        time.sleep(AFTER_RESTART_S)
        merged = merge(pool.stop())
    finally:
        pool.kill()
        daemon.stop()
    counts = merged["counts"]
    reliability.fault = f"daemon SIGKILLed and restarted under {CLIENTS} client processes"
    reliability.injections = 1
    reliability.operations = counts["reads"] + sum(merged["errors"].values())
    reliability.bytes_verified = counts["bytes_verified"]
    reliability.wrong_bytes = counts["wrong_bytes"]
    reliability.clean_errors = sum(merged["errors"].values())
    reliability.extra = {"errors": dict(merged["errors"]), "clients": CLIENTS,
                         "resumed_clients": merged["resumed_clients"]}
    assert merged["dead_clients"] == 0 and not merged["unclean"], merged["unclean"][:3]
    assert counts["wrong_bytes"] == 0 and counts["reads"] > 0
    assert merged["resumed_clients"] == CLIENTS  # each read through the daemon again
